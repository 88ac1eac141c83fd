"""ASE calculators used by alearn."""

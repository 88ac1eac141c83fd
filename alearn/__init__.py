"""alearn: active learning of MACE force fields against DFT."""

"""Simulation protocols built on alearn models."""

"""Minewatch: find cryptocurrency-mining traffic in packet captures."""

__version__ = "0.1.0"

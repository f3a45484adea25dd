"""Numba kernels over numpy arrays: decode, flow table, match, timing."""

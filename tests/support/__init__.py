"""Hermetic test infrastructure: real distributions, a local package index, pip helpers."""

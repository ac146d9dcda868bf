"""Analyses: pure functions, arrays in and result dataclasses out; no file I/O, no printing."""

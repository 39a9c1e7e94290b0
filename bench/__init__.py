"""Benchmarks (`make bench`): `ml` against what users would write otherwise, as ratios from one run.

Not tests: nothing here asserts a timing. Each comparison runs both sides in one process,
alternating, and reports medians over repeats, because the machines are shared and noisy.
"""

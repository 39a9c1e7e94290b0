"""Datasets: reading and validating tables, the demo set, daily partitions, new training files."""

"""Drift monitoring: reference profiles of each version and the `check-drift` step."""

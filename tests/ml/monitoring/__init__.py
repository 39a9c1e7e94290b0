"""Tests of ml/monitoring/."""

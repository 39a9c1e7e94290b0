"""Tests of ml/data/."""

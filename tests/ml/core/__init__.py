"""Tests of ml/core/."""

"""Tests of ml/cli/."""

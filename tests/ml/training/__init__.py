"""Tests of ml/training/."""

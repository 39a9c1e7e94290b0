"""Tests of ml/lifecycle/."""

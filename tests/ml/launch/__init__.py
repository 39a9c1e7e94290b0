"""Tests of ml/launch/."""

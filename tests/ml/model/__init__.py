"""Tests of ml/model/."""

"""Tests of ml/pipelines/."""

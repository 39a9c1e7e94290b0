"""Tests of the `ml` package, one folder per package of ml/ (tests/ml/<package>/)."""

"""Dagster code location for the `ml` pipelines: assets that call `ml.steps`, nothing more.

This file stays empty on purpose: the Dagster webserver and daemon import
`ml_dagster.launcher` (the run launcher) without `ml` or torch being installed.
The definitions live in `ml_dagster.definitions`.
"""

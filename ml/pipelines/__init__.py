"""The pipelines, declared once (`spec`), their run parameters (`params`), and the in-process runner
(`embedded`). Every runner (CLI, Airflow, Dagster, trigger, bench) is built from `spec`."""

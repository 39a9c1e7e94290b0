"""Run one Airflow DAG with `dag.test()` in its own process and print the outcome as JSON.

The tests call this as a subprocess: Airflow reads AIRFLOW_HOME and its configuration once per
process, so each test suite gets its own metadata DB without touching the pytest process.
Usage: `python tests/airflow_dag_runner.py DAG_ID [RUN_CONF_JSON]`, with AIRFLOW_HOME and
AIRFLOW__CORE__DAGS_FOLDER set and `airflow db migrate` already run. The last stdout line is
`{"state": ..., "run_id": ..., "tasks": {task_id: {"state", "try_number", "output"}}}`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def run_dag(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
    """Serialize the DAG folder, run `dag_id` once and collect states and XCom return values."""
    from sqlalchemy import select

    from airflow import settings
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.models.xcom import XComModel

    dags_folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).resolve()
    bag = BundleDagBag(dag_folder=dags_folder, bundle_path=dags_folder)
    if bag.import_errors:
        raise SystemExit(f"error: DAG import errors: {bag.import_errors}")
    dag_run = bag.get_dag(dag_id).test(run_conf=conf)

    with settings.Session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.key == "return_value",
            )
        ).all()
        outputs = {row.task_id: XComModel.deserialize_value(row) for row in rows}
        tasks = {
            ti.task_id: {
                "state": ti.state,
                "try_number": ti.try_number,
                "output": outputs.get(ti.task_id),
            }
            for ti in dag_run.get_task_instances(session=session)
        }
    return {"state": dag_run.state, "run_id": dag_run.run_id, "tasks": tasks}


if __name__ == "__main__":
    result = run_dag(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    print(json.dumps(result, default=str))

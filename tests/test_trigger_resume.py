"""`python -m ml_trigger resume` (`make resume`) against loopback servers that answer like Airflow's and Dagster's APIs.

Airflow: the failed task and what follows are cleared in the same run (only_failed + include_downstream);
Dagster: a re-execution FROM_FAILURE whose outcome carries the parent's results of the steps it did not run.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from trigger_fakes import DAGSTER_RUN, TRAIN_XCOMS, ApiServer, FakeAirflow, FakeDagster

from ml_trigger import cli

CHILD_RUN = "9c0ffee0-0000-4000-8000-000000000001"


class FailedAirflowRun(FakeAirflow):
    """A training run that failed in evaluate_model; clearing it lets the run go on from there."""

    def __init__(self) -> None:
        super().__init__("ml_training", fail_task="evaluate_model")
        self.run_polls = 100  # the run is over: failed
        self.cleared: dict[str, Any] | None = None

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        if path == f"/api/v2/dags/{self.dag_id}/clearTaskInstances" and method == "POST":
            self.cleared = body
            at = self.tasks.index("evaluate_model")
            self.fail_task, self.run_polls = None, at  # as the scheduler: the cleared tasks run again, in order
            return 200, {"task_instances": [{"task_id": t} for t in self.tasks[at:]], "total_entries": 3}
        status, answer = super().__call__(method, path, query, headers, body)
        if path.endswith("/taskInstances") and self.cleared is not None:  # the cleared tasks' next try
            for ti in answer["task_instances"]:
                ti["try_number"] = 2 if self.tasks.index(ti["task_id"]) >= self.tasks.index("evaluate_model") else 1
        return status, answer


def test_airflow_resume_clears_the_failed_task_and_what_follows(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    api = FailedAirflowRun()
    with ApiServer(api) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
        monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
        code = cli.main(["resume", "--run", api.run_id, "-o", "airflow", "--poll", "0.01"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.cleared == {"dry_run": False, "dag_run_id": api.run_id, "only_failed": True, "include_downstream": True,
                           "reset_dag_runs": True, "note": "resumed from the failed task (make resume)"}
    result = json.loads(out.strip().splitlines()[-1])
    assert result["succeeded"] and result["run_id"] == api.run_id and result["resumed"] == api.run_id
    tries = {step: info["try_number"] for step, info in result["steps"].items()}
    assert tries == {"load-training-data": 1, "train": 1, "evaluate": 2, "register": 2, "promote": 2}
    assert result["summary"]["model_version"] == TRAIN_XCOMS["save_trained_model"]["version"]


def test_airflow_resume_of_a_run_that_did_not_fail_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeAirflow()
    api.run_polls = 100  # succeeded
    with ApiServer(api) as server:
        monkeypatch.setenv("AIRFLOW_URL", server.url)
        monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
        monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
        assert cli.main(["resume", "--run", api.run_id, "-o", "airflow"]) == 2
        assert cli.main(["resume", "--run", "manual__nothing", "-o", "airflow"]) == 2
    err = capsys.readouterr().err
    assert "is success, not failed: nothing to resume" in err and "has no training or inference run" in err


class FailedDagsterRun(FakeDagster):
    """A training run that failed in model_evaluation; its re-execution runs that step and the ones after it."""

    def __init__(self) -> None:
        super().__init__("training_job")
        self.reexecuted: dict[str, Any] | None = None

    def parent(self) -> dict[str, Any]:
        keys = self.steps
        stats = [{"stepKey": k, "status": "SUCCESS" if i < 2 else "FAILURE", "startTime": 1000.0 + i,
                  "endTime": 1002.0 + i} for i, k in enumerate(keys[:3])]
        mats = [{"assetKey": {"path": [a]}, "stepKey": a, "metadataEntries": self.materializations[a]} for a in keys[:2]]
        return {"__typename": "Run", "runId": DAGSTER_RUN, "jobName": "training_job", "status": "FAILURE",
                "startTime": 999.0, "endTime": 1004.0, "stepStats": stats, "assetMaterializations": mats}

    def child(self) -> dict[str, Any]:
        self.polls += 1
        keys = self.steps[2:]
        done = self.polls > 1
        stats = [{"stepKey": k, "status": "SUCCESS" if done else "IN_PROGRESS", "startTime": 2000.0 + i,
                  "endTime": 2001.0 + i if done else None} for i, k in enumerate(keys)]
        mats = [{"assetKey": {"path": [a]}, "stepKey": a, "metadataEntries": self.materializations[a]}
                for a in keys] if done else []
        return {"__typename": "Run", "runId": CHILD_RUN, "jobName": "training_job",
                "status": "SUCCESS" if done else "STARTED", "startTime": 1999.0, "endTime": 2005.0 if done else None,
                "stepStats": stats, "assetMaterializations": mats}

    def __call__(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                 body: Any) -> tuple[int, Any]:
        document, variables = body["query"], body.get("variables") or {}
        if "launchRunReexecution" in document:
            self.reexecuted = variables
            assert "strategy: FROM_FAILURE" in document
            return 200, {"data": {"launchRunReexecution": {"__typename": "LaunchRunSuccess",
                                                           "run": {"runId": CHILD_RUN}}}}
        if "runOrError" in document:
            run = self.parent() if variables["runId"] == DAGSTER_RUN else self.child()
            return 200, {"data": {"runOrError": run}}
        if "logsForRun" in document:
            return 200, {"data": {"logsForRun": {"__typename": "EventConnection", "events": []}}}
        return super().__call__(method, path, query, headers, body)


def test_dagster_resume_reexecutes_from_failure_and_keeps_the_parents_results(monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    api = FailedDagsterRun()
    with ApiServer(api) as server:
        monkeypatch.setenv("DAGSTER_URL", server.url)
        code = cli.main(["resume", "--run", DAGSTER_RUN, "-o", "dagster", "--poll", "0.01"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.reexecuted == {"parentRunId": DAGSTER_RUN}
    result = json.loads(out.strip().splitlines()[-1])
    assert result["succeeded"] and result["run_id"] == CHILD_RUN and result["resumed"] == DAGSTER_RUN
    states = {step: info["state"] for step, info in result["steps"].items()}
    assert states == {"load-training-data": "done before", "train": "done before", "evaluate": "SUCCESS",
                      "register": "SUCCESS", "promote": "SUCCESS"}  # train was not executed again
    assert result["results"]["train"] == TRAIN_XCOMS["train_model"]  # the parent's result
    assert result["summary"]["model_version"] == TRAIN_XCOMS["save_trained_model"]["version"]

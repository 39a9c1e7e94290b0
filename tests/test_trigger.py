"""`ml_trigger` (the `make train` / `make infer` client) against HTTP servers shaped like the real APIs.

The fakes (tests/trigger_fakes.py) check every request the client sends; these tests check what
the command prints and returns: the final JSON line, the exit codes, the progress on stderr.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from setuptools import find_packages
from trigger_fakes import DAGSTER_RUN, INFER_XCOMS, MODEL_URL, TRAIN_XCOMS, ApiServer, FakeAirflow, FakeDagster

from ml_trigger import cli
from ml_trigger.dagster_api import DagsterClient
from ml_trigger.errors import EXIT_UNREACHABLE, TriggerError
from ml_trigger.http import Http
from ml_trigger.params import parse_params, with_default_inputs

ROOT = Path(__file__).resolve().parents[1]
DEMO_INPUT = "s3://datasets/demo/inference.csv"
#: The summaries both orchestrators' runs give (ml's spec reads them from the steps' results).
TRAIN_SUMMARY = {"model_name": "text-classifier", "model_version": "7", "alias": "challenger", "promoted": True,
                 "champion_version": "7", "decision": "first version: promoted",
                 "metrics": {"test_macro_f1": 0.91}, "mlflow_run_id": "abc", "cached_steps": []}
INFER_SUMMARY = {"predictions_uri": "s3://predictions/run-1/predictions.parquet", "rows": 500,
                 "model_name": "text-classifier", "model_version": 7, "input_uri": "s3://datasets/daily/2026-11-25.csv",
                 "partition_date": "2026-11-25", "drift": "ok", "drift_summary": "no drift: text_length PSI 0.010",
                 "cached_steps": []}


def by_step_name(xcoms: dict[str, Any]) -> dict[str, Any]:
    """Airflow task ids -> ml's step names (the spec's)."""
    from ml.pipelines.spec import all_steps

    task = {step.airflow_task: step.name for step in all_steps()}
    return {task[key]: value for key, value in xcoms.items()}


@pytest.fixture(autouse=True)
def _trigger_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Credentials and public URLs as compose passes them; no retries; ml_dagster importable."""
    monkeypatch.setenv("AIRFLOW_ADMIN_USER", "admin")
    monkeypatch.setenv("AIRFLOW_ADMIN_PASSWORD", "pw")
    monkeypatch.setenv("AIRFLOW_PUBLIC_URL", "http://localhost:8080")
    monkeypatch.setenv("DAGSTER_PUBLIC_URL", "http://localhost:3000")
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "0")
    monkeypatch.delenv("ML_INFERENCE_URI", raising=False)
    monkeypatch.syspath_prepend(str(ROOT / "dagster"))  # ml_dagster.config: the Dagster run config
    yield


# TEMPORARY stand-in for `ml_dagster.config.run_config` while that function is being written;
# used only when the module lacks it. Remove once dagster/ml_dagster/config.py has it.
_PARAM_ASSETS = {
    "train": {"dataset_uri": "training_data", **dict.fromkeys(
        ("base_model", "epochs", "learning_rate", "batch_size", "seed", "max_train_samples"), "trained_model")},
    "infer": {"input_uri": "inference_data", "partition_date": "inference_data", "model_version": "production_model",
              "model_alias": "production_model", "output_uri": "published_predictions"},
}


def _stand_in_run_config(pipeline: str, params: dict[str, Any]) -> dict[str, Any]:
    known = _PARAM_ASSETS[pipeline]
    ops: dict[str, dict[str, Any]] = {}
    for name, value in params.items():
        if name not in known:
            raise ValueError(f"unknown {pipeline} parameter {name!r}; known: {', '.join(sorted(known))}")
        if value not in (None, ""):
            ops.setdefault(known[name], {"config": {}})["config"][name] = value
    return {"ops": ops} if ops else {}


@pytest.fixture()
def dagster_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code location's run-config builder, which the trigger imports for Dagster runs."""
    import ml_dagster.config

    if not hasattr(ml_dagster.config, "run_config"):
        monkeypatch.setattr(ml_dagster.config, "run_config", _stand_in_run_config, raising=False)


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])


def trigger(monkeypatch: pytest.MonkeyPatch, api: FakeAirflow | FakeDagster, *argv: str) -> int:
    """`python -m ml_trigger ARGV` against `api` (fast polls)."""
    with ApiServer(api) as server:
        monkeypatch.setenv("AIRFLOW_URL" if isinstance(api, FakeAirflow) else "DAGSTER_URL", server.url)
        return cli.main([*argv, "--poll", "0.01"])


# --- Airflow ----------------------------------------------------------------------------------


def test_airflow_train_succeeds_and_reports_version(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ML_DATASET_URI", "s3://datasets/demo/train.csv")  # the step's default, not the trigger's
    api = FakeAirflow()
    code = trigger(monkeypatch, api, "train", "--orchestrator", "airflow", "--param", "epochs=2")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.triggered == {"dag_run_id": api.run_id, "logical_date": None, "conf": {"epochs": 2}}
    assert not api.paused, "a paused DAG must be unpaused, or the run never starts"
    result = last_json(out)
    assert result["succeeded"] and result["state"] == "success" and result["run_id"] == api.run_id
    assert api.run_id.startswith("manual__") and api.triggered["dag_run_id"] == api.run_id  # chosen by the client
    assert result["results"] == by_step_name(TRAIN_XCOMS)  # keyed by ml's step names
    summary = result["summary"]
    assert (summary["model_version"], summary["alias"], summary["champion_version"]) == ("7", "challenger", "7")
    assert result["links"]["run"] == f"http://localhost:8080/dags/ml_training/runs/{api.run_id.replace(':', '%3A').replace('+', '%2B')}"
    assert result["links"]["mlflow"] == MODEL_URL, "the last step's mlflow_model_url is the MLflow link"
    assert set(result["steps"]) == set(by_step_name(TRAIN_XCOMS))
    assert result["steps"]["train"]["task"] == "train_model"  # the orchestrator's own name, beside ml's
    assert "train_model" in err and "running" in err and "SUCCEEDED" in err


def test_on_a_terminal_no_json_line_and_no_file_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: True)
    code = trigger(monkeypatch, FakeAirflow(), "train", "--orchestrator", "airflow")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "{" not in out, "the readable summary only; no JSON line on a terminal"
    assert "--json" in err.splitlines()[-1] and not list(tmp_path.iterdir())


def test_on_a_terminal_json_flag_prints_it_and_result_file_is_honoured(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      tmp_path: Path) -> None:
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: True)
    target = tmp_path / "sub" / "result.json"
    api = FakeAirflow()
    code = trigger(monkeypatch, api, "train", "-o", "airflow", "--json", "--result-file", str(target))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert last_json(out)["run_id"] == api.run_id
    assert json.loads(target.read_text())["run_id"] == api.run_id


def test_piped_stdout_keeps_json_last_and_writes_no_default_file(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: False)
    api = FakeAirflow()
    assert trigger(monkeypatch, api, "train", "-o", "airflow") == 0
    out, err = capsys.readouterr()
    assert last_json(out)["run_id"] == api.run_id
    assert not list(tmp_path.iterdir()) and "result: " not in err


def test_unwritable_result_file_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setattr(cli.sys.stdout, "isatty", lambda: True)
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = trigger(monkeypatch, FakeAirflow(), "train", "-o", "airflow", "--result-file", str(blocker / "r.json"))
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and "--result-file" in errors[0]


def test_airflow_infer_reports_rows_input_and_partition(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeAirflow("ml_inference")
    code = trigger(monkeypatch, api, "infer", "-o", "airflow", "--param", "partition_date=2026-11-25")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.triggered == {"dag_run_id": api.run_id, "logical_date": None, "conf": {"partition_date": "2026-11-25"}}
    assert last_json(out)["summary"] == INFER_SUMMARY
    assert "rows: 500" in err and "mlflow UI: " + MODEL_URL in err


def test_airflow_infer_defaults_to_the_demo_input_unless_a_param_is_left_empty(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ML_INFERENCE_URI", DEMO_INPUT)
    api = FakeAirflow("ml_inference")
    assert trigger(monkeypatch, api, "infer", "-o", "airflow") == 0
    assert api.triggered == {"dag_run_id": api.run_id, "logical_date": None, "conf": {"input_uri": DEMO_INPUT}}
    api = FakeAirflow("ml_inference")
    assert trigger(monkeypatch, api, "infer", "-o", "airflow", "--param", "input_uri=") == 0
    assert api.triggered == {"dag_run_id": api.run_id, "logical_date": None, "conf": {}}, "input_uri= leaves the partition rule to the step"
    capsys.readouterr()


def test_airflow_failed_task_gives_reason_and_exit_1(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = trigger(monkeypatch, FakeAirflow(fail_task="load_training_data"), "train", "-o", "airflow")
    out, err = capsys.readouterr()
    assert code == 1
    result = last_json(out)
    assert result["state"] == "failed" and not result["succeeded"]
    assert result["error"] == ("load_training_data: error: dataset has no column 'label', "
                               "s3://datasets/bad.csv, add a label column")
    assert "FAILED" in err


def test_airflow_wrong_password_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert trigger(monkeypatch, FakeAirflow(password="other"), "train", "-o", "airflow") == 1
    assert "POST /auth/token answered 401: Invalid credentials" in capsys.readouterr().err


def test_missing_credentials_is_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AIRFLOW_ADMIN_PASSWORD")
    assert cli.main(["train", "-o", "airflow"]) == 2
    assert "AIRFLOW_ADMIN_PASSWORD" in capsys.readouterr().err


@pytest.mark.usefixtures("dagster_config")
@pytest.mark.parametrize("orchestrator", ["airflow", "dagster"])
def test_unreachable_api_exits_75(orchestrator: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    server = ApiServer(FakeAirflow())
    server.server.server_close()  # nothing listens on this port any more
    monkeypatch.setenv("AIRFLOW_URL", server.url)
    monkeypatch.setenv("DAGSTER_URL", server.url)
    assert cli.main(["infer", "-o", orchestrator]) == 75
    err = capsys.readouterr().err
    assert f"{orchestrator.capitalize()} API unreachable at {server.url} (ConnectionError)" in err


# --- Dagster ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("dagster_config")
def test_dagster_infer_succeeds_and_reports_predictions(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeDagster()
    code = trigger(monkeypatch, api, "infer", "--orchestrator", "dagster", "--param", "input_uri=s3://datasets/x.csv",
                   "--param", "model_version=7", "--param", "partition_date=2026-11-25")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert api.launched is not None
    assert api.launched["selector"] == {"repositoryLocationName": "ml", "repositoryName": "__repository__",
                                        "pipelineName": "inference_job", "solidSelection": None,
                                        "assetSelection": None}
    assert api.launched["runConfigData"] == {"ops": {
        "inference_data": {"config": {"input_uri": "s3://datasets/x.csv", "partition_date": "2026-11-25"}},
        "production_model": {"config": {"model_version": 7}},
    }}
    tags = {t["key"]: t["value"] for t in api.launched["executionMetadata"]["tags"]}
    assert tags.pop("ml/launch_key") and tags == {"ml/triggered_by": "ml_trigger"}  # the key finds a retried launch
    result = last_json(out)
    assert result["state"] == "SUCCESS" and result["succeeded"]
    assert result["summary"] == INFER_SUMMARY  # the same summary as Airflow's (the drift verdict included)
    assert result["results"]["save-predictions"]["rows"] == 500, "ml_result is the asset's result"
    assert result["results"]["predict"] == {"dagster/row_count": 500, "predictions_uri": "s3://ml-work/i/p.parquet"}
    assert result["results"]["check-drift"] == INFER_XCOMS["check_drift"], "the asset check's ml_result"
    assert result["wall_s"] == 11.0
    assert result["steps"]["predict"] == {"state": "SUCCESS", "duration_s": 2.5, "task": "predictions"}
    assert result["links"] == {"run": f"http://localhost:3000/runs/{DAGSTER_RUN}", "mlflow": MODEL_URL}
    assert "published_predictions" in err and "IN_PROGRESS" in err


@pytest.mark.usefixtures("dagster_config")
def test_dagster_train_results_match_airflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeDagster("training_job")
    assert trigger(monkeypatch, api, "train", "-o", "dagster", "--param", "epochs=2") == 0
    assert api.launched is not None and api.launched["runConfigData"] == {"ops": {"trained_model": {"config": {"epochs": 2}}}}
    result = last_json(capsys.readouterr().out)
    assert result["summary"] == TRAIN_SUMMARY  # the same summary as Airflow's
    assert result["links"]["mlflow"] == MODEL_URL


@pytest.mark.usefixtures("dagster_config")
def test_dagster_empty_param_is_dropped_and_stops_the_demo_input(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ML_INFERENCE_URI", DEMO_INPUT)
    api = FakeDagster()
    assert trigger(monkeypatch, api, "infer", "-o", "dagster") == 0
    assert api.launched is not None
    assert api.launched["runConfigData"] == {"ops": {"inference_data": {"config": {"input_uri": DEMO_INPUT}}}}
    api = FakeDagster()
    assert trigger(monkeypatch, api, "infer", "-o", "dagster", "--param", "input_uri=") == 0
    assert api.launched is not None and api.launched["runConfigData"] == {}
    capsys.readouterr()


@pytest.mark.usefixtures("dagster_config")
def test_dagster_failure_gives_step_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert trigger(monkeypatch, FakeDagster(fail=True), "infer", "-o", "dagster") == 1
    result = last_json(capsys.readouterr().out)
    assert result["state"] == "FAILURE"
    assert result["error"] == ("predictions: error: model version 99 not found, models:/text-classifier/99, "
                               "register it or use the champion alias")


def test_dagster_rejected_config_is_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeDagster(invalid_config=True)
    assert trigger(monkeypatch, api, "infer", "-o", "dagster", "--param", 'run_config={"ops": {"x": {}}}') == 2
    assert api.launched is not None and api.launched["runConfigData"] == {"ops": {"x": {}}}
    assert 'Dagster rejected the run config: Received unexpected config entry "bogus"' in capsys.readouterr().err


@pytest.mark.usefixtures("dagster_config")
def test_unknown_dagster_param_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["train", "-o", "dagster", "--param", "bogus=1"]) == 2
    assert "unknown train parameter 'bogus'" in capsys.readouterr().err


# --- params, retries --------------------------------------------------------------------------


def test_parse_params_types_and_errors() -> None:
    assert parse_params(["epochs=2", "lr=0.5", "name=abc", "v=null", "flag=true", "input_uri="]) == {
        "epochs": 2, "lr": 0.5, "name": "abc", "v": None, "flag": True, "input_uri": ""}
    with pytest.raises(TriggerError):
        parse_params(["novalue"])


def test_only_infer_gets_a_default_input_and_empty_params_are_dropped() -> None:
    env = {"ML_DATASET_URI": "s3://datasets/demo/train.csv", "ML_INFERENCE_URI": DEMO_INPUT}
    assert with_default_inputs("train", {}, env) == {}
    assert with_default_inputs("train", {"epochs": 2, "dataset_uri": ""}, env) == {"epochs": 2}
    assert with_default_inputs("infer", {}, env) == {"input_uri": DEMO_INPUT}
    assert with_default_inputs("infer", {"input_uri": "s3://x/y.csv"}, env) == {"input_uri": "s3://x/y.csv"}
    assert with_default_inputs("infer", {"input_uri": ""}, env) == {}
    assert with_default_inputs("infer", {"partition_date": "2026-11-25"}, env) == {"partition_date": "2026-11-25"}
    assert with_default_inputs("infer", {"run_config": "{}"}, env) == {"run_config": "{}"}
    assert with_default_inputs("infer", {}, {}) == {}


class Flaky:
    """Answers 503 `failures` times, then 200."""

    def __init__(self, failures: int, ok: Any) -> None:
        self.failures = failures
        self.ok = ok

    def __call__(self, method: str, path: str, *_: Any) -> tuple[int, Any]:
        if self.failures > 0:
            self.failures -= 1
            return 503, {"detail": "starting up"}
        return 200, self.ok


def test_http_retries_5xx_with_exponential_backoff_then_succeeds() -> None:
    with ApiServer(Flaky(2, {"fine": True})) as server:
        response = Http(server.url, "Test", retries=3, backoff_s=0.05).request("GET", "/x")
    assert response.json() == {"fine": True}
    times = [t for t, *_ in server.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1, "the wait doubles between tries"


def test_http_gives_up_after_ml_trigger_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_TRIGGER_RETRIES", "1")
    with ApiServer(Flaky(5, {})) as server, pytest.raises(TriggerError, match="GET /x answered 503: starting up"):
        Http(server.url, "Test", backoff_s=0.01).request("GET", "/x")
    assert len(server.requests) == 2


def test_http_unreachable_after_retries_is_exit_75() -> None:
    server = ApiServer(Flaky(0, {}))
    server.server.server_close()
    with pytest.raises(TriggerError) as caught:
        Http(server.url, "Test", retries=2, backoff_s=0.01).request("GET", "/x")
    assert caught.value.exit_code == EXIT_UNREACHABLE


def test_dagster_graphql_retries_5xx_then_succeeds() -> None:
    with ApiServer(Flaky(2, {"data": {"ok": 1}})) as server:
        data = DagsterClient(server.url, retries=2, backoff_s=0.01).query("query { ok }")
    assert data == {"ok": 1}
    assert len(server.requests) == 3


class StorageRestarting:
    """Dagster's webserver while its Postgres restarts: GraphQL errors naming the lost connection, then data."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    def __call__(self, *_: Any) -> tuple[int, Any]:
        if self.failures > 0:
            self.failures -= 1
            return 200, {"data": None, "errors": [{"message": "(psycopg2.OperationalError) server closed the "
                                                              "connection unexpectedly"}]}
        return 200, {"data": {"ok": 1}}


def test_dagster_reads_ride_out_a_database_restart_but_mutations_are_not_repeated() -> None:
    with ApiServer(StorageRestarting(2)) as server:
        assert DagsterClient(server.url, retries=3, backoff_s=0.01).query("query { ok }") == {"ok": 1}
    assert len(server.requests) == 3
    with ApiServer(StorageRestarting(1)) as server, pytest.raises(TriggerError, match="OperationalError"):
        DagsterClient(server.url, retries=3, backoff_s=0.01).query("mutation { launch }")
    assert len(server.requests) == 1
    with ApiServer(StorageRestarting(5)) as server, pytest.raises(TriggerError, match="server closed the connection"):
        DagsterClient(server.url, retries=2, backoff_s=0.01).query("query { ok }")
    assert len(server.requests) == 3


def test_a_trigger_retried_after_a_lost_answer_follows_its_own_airflow_run() -> None:
    """The server creates the run but answers after the client's read timeout: the retry reuses the id."""
    from ml_trigger.airflow_api import AirflowClient, run_airflow

    api = FakeAirflow(hold_first_trigger_s=2.0)
    with ApiServer(api) as server:
        client = AirflowClient(server.url, "admin", "pw")
        client.http.timeout, client.http.backoff_s, client.http.retries = 0.5, 0.01, 3
        outcome = run_airflow(client, "train", {}, timeout=60, poll=0.01)
    posts = [r for r in server.requests if r[1] == "POST" and r[2].endswith("/dagRuns")]
    assert len(posts) >= 2 and api.runs_created == 1  # retried, one run
    assert outcome.succeeded and outcome.run_id == api.run_id == posts[0][3]["dag_run_id"] == posts[1][3]["dag_run_id"]


def test_a_launch_retried_after_a_lost_answer_follows_its_own_dagster_run(dagster_config) -> None:
    from ml_trigger.dagster_api import LAUNCH_KEY_TAG, DagsterClient, run_dagster

    api = FakeDagster(hold_first_launch_s=2.0)
    with ApiServer(api) as server:
        client = DagsterClient(server.url, timeout=1, retries=3, backoff_s=0.01)
        outcome = run_dagster(client, "infer", {}, timeout=60, poll=0.01)
    assert api.launches == 1 and outcome.run_id == DAGSTER_RUN and outcome.succeeded  # retried, launched once
    lookups = [r for r in server.requests if "runsOrError" in (r[3] or {}).get("query", "")]
    assert len(lookups) >= 2 and lookups[-1][3]["variables"] == {"key": LAUNCH_KEY_TAG, "value": api.run_tags[LAUNCH_KEY_TAG]}


# --- where the trigger lives ------------------------------------------------------------------


def test_ml_holds_no_orchestrator_api_code() -> None:
    """`ml/` knows no orchestrator: the API clients live in ml_trigger/."""
    assert not (ROOT / "ml" / "trigger.py").exists()
    words = re.compile(r"graphql|/api/v2/|dagRuns|xcomEntries", re.IGNORECASE)
    hits = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "ml").rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1) if words.search(line)]
    assert hits == []
    assert words.search((ROOT / "ml_trigger" / "airflow_api.py").read_text())  # the check can see it


def test_the_ml_wheel_leaves_ml_trigger_out() -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = set(find_packages(where=str(ROOT), include=include))
    subpackages = {f"ml.{d.name}" for d in (ROOT / "ml").iterdir() if (d / "__init__.py").exists()}
    assert {"ml", *subpackages} <= packages
    assert not {p for p in packages if p.startswith("ml_trigger")}


def test_the_dagster_image_carries_the_trigger_and_its_pins() -> None:
    dockerfile = (ROOT / "docker" / "dagster.Dockerfile").read_text()
    assert "COPY ml_trigger/ /opt/dagster/app/ml_trigger/" in dockerfile
    assert "pip install --no-deps" in dockerfile and "import ml.core.config" in dockerfile
    pins = dict(line.split("==") for line in (ROOT / "docker" / "dagster.constraints.txt").read_text().splitlines()
                if "==" in line)
    for name in ("tenacity", "requests", "dagster-graphql", "pydantic-settings", "python-dotenv", "typing-inspection"):
        assert name in pins, f"{name} is not pinned in dagster.constraints.txt"
    assert "ml_trigger" not in (ROOT / ".dockerignore").read_text()

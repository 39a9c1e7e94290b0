"""The launch policy (`ml.launch`) and ml's run rules on their own, without an orchestrator.

tests/airflow/test_adapters_agree.py asks both adapters the same questions and checks that they
give these answers.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ml.errors import BadInputError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("ML_"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- GPUs: one grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "runtime", "requests"),
    [
        ("auto", True, [{"count": -1, "capabilities": [["gpu"]]}]),
        ("auto", False, []),
        ("", True, [{"count": -1, "capabilities": [["gpu"]]}]),  # empty = unset = auto
        ("all", False, [{"count": -1, "capabilities": [["gpu"]]}]),
        ("none", True, []),
        ("NONE", True, []),
        ("0", True, [{"device_ids": ["0"], "capabilities": [["gpu"]]}]),
        ("0, 1", False, [{"device_ids": ["0", "1"], "capabilities": [["gpu"]]}]),
        ("GPU-abc", False, [{"device_ids": ["GPU-abc"], "capabilities": [["gpu"]]}]),
        ("MIG-1f2e", False, [{"device_ids": ["MIG-1f2e"], "capabilities": [["gpu"]]}]),
    ],
)
def test_gpu_grammar(clean_env, value, runtime, requests) -> None:
    from ml.launch.settings import load_launch_settings

    clean_env.setenv("ML_GPUS", value)
    assert load_launch_settings().gpu_device_requests(runtime) == requests


@pytest.mark.parametrize("value", ["some", "false", "cpu", "0,x", "-1"])
def test_bad_gpu_values_are_one_line_errors(clean_env, value) -> None:
    from ml.launch.settings import load_launch_settings

    clean_env.setenv("ML_GPUS", value)
    with pytest.raises(BadInputError, match=rf"invalid setting ML_GPUS='{value}'.*device ids") as failure:
        load_launch_settings()
    assert "\n" not in str(failure.value)


def test_runtime_probe_reads_the_docker_daemons_runtimes() -> None:
    from ml.launch.settings import nvidia_runtime

    class Daemon:
        def __init__(self, runtimes: dict) -> None:
            self.runtimes = runtimes

        def info(self) -> dict:
            return {"Runtimes": self.runtimes}

    assert nvidia_runtime(Daemon({"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}))
    assert not nvidia_runtime(Daemon({"runc": {}}))


def test_container_limits_and_sizes(clean_env) -> None:
    from ml.launch.settings import load_launch_settings, parse_size

    assert load_launch_settings().container_limits() == {"cpu_shares": 1024, "shm_size": "2g"}
    clean_env.setenv("ML_CPUS", "2.5")
    clean_env.setenv("ML_MEM_LIMIT", "6G")
    assert load_launch_settings().container_limits() == {"cpu_shares": 2560, "mem_limit": "6g", "shm_size": "2g"}
    assert parse_size("2g") == 2 * 1024**3 and parse_size("512mb") == 512 * 1024**2 and parse_size("10") == 10
    assert parse_size("") is None
    with pytest.raises(ValueError, match="size 'lots' is not valid"):
        parse_size("lots")
    clean_env.setenv("ML_SHM_SIZE", "lots")
    with pytest.raises(BadInputError, match="invalid setting ML_SHM_SIZE='lots'"):
        load_launch_settings()


# --- environment and secrets ------------------------------------------------------------------

ENVIRON = {
    "ML_S3_ENDPOINT": "http://minio:9000",
    "ML_S3_ACCESS_KEY": "ak",
    "ML_S3_SECRET_KEY": "sk",
    "ML_PREDICT_BATCH_TOKENS": "8192",
    "TOKENIZERS_PARALLELISM": "false",
    "ML_DATASET_URI": "s3://datasets/x.csv",
    "ML_INFERENCE_INPUT_TEMPLATE": "s3://d/{ds}.csv",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "MLFLOW_TRACKING_PASSWORD": "pw",
    "AWS_SESSION_TOKEN": "tok",
    "HF_HUB_OFFLINE": "1",
    "ML_LAUNCHER": "docker",
    "ML_GPUS": "all",
    "ML_CPUS": "2",
    "ML_K8S_GPUS": "1",
    "ML_IMAGE": "ml:1",
    "PATH": "/usr/bin",
    "POSTGRES_PASSWORD": "not-forwarded",
}


def test_step_environment_split() -> None:
    from ml.launch.env import step_environment

    env = step_environment("airflow", ENVIRON)
    assert env.plain == {
        "ML_S3_ENDPOINT": "http://minio:9000",
        "ML_PREDICT_BATCH_TOKENS": "8192",  # a setting, not a secret (no substring match on TOKEN)
        "TOKENIZERS_PARALLELISM": "false",
        "ML_DATASET_URI": "s3://datasets/x.csv",  # the steps own their defaults: forwarded
        "ML_INFERENCE_INPUT_TEMPLATE": "s3://d/{ds}.csv",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "HF_HUB_OFFLINE": "1",
        "ML_IMAGE": "ml:1",  # recorded as the lineage tag `image`
        "ML_ORCHESTRATOR": "airflow",
    }
    assert env.secret == {"ML_S3_ACCESS_KEY": "ak", "ML_S3_SECRET_KEY": "sk",
                          "MLFLOW_TRACKING_PASSWORD": "pw", "AWS_SESSION_TOKEN": "tok"}


def test_secrets_are_an_explicit_list_derived_from_the_secret_settings() -> None:
    from pydantic import SecretStr

    from ml.config import Settings
    from ml.launch.env import NAMED_SECRETS, is_secret, masks_in_logs, secret_names

    from_settings = {f"ML_{name.upper()}" for name, f in Settings.model_fields.items() if f.annotation is SecretStr}
    assert from_settings == {"ML_S3_ACCESS_KEY", "ML_S3_SECRET_KEY"}
    assert secret_names() == from_settings | NAMED_SECRETS
    for name in ("ML_S3_SECRET_KEY", "MLFLOW_TRACKING_PASSWORD", "AWS_SESSION_TOKEN", "HF_TOKEN"):
        assert is_secret(name) and masks_in_logs(name), name
    for name in ("ML_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert is_secret(name) and not masks_in_logs(name), name
    for name in ("ML_PREDICT_BATCH_TOKENS", "TOKENIZERS_PARALLELISM", "ML_S3_ENDPOINT", "ML_KEYWORDS"):
        assert not is_secret(name), name


# --- exit codes, retries, argv ----------------------------------------------------------------


def test_exit_contract_and_retry_numbers() -> None:
    from ml.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT
    from ml.launch.exits import STEP_RETRY, error_reason, failure_message, parse_result, retryable

    assert not retryable(EXIT_BAD_INPUT) and retryable(EXIT_TRANSIENT) and retryable(1) and retryable(137)
    assert STEP_RETRY.delays() == [30.0, 60.0]
    assert error_reason(["INFO x", "error: no label column; add it", ""]) == "error: no label column; add it"
    assert error_reason([]) == "(the step printed nothing)"
    assert failure_message("train", 2, "error: bad") == "ml train rejected its input (exit 2, not retried): error: bad"
    assert failure_message("train", 75, "x") == "ml train a service stayed unreachable (exit 75, retried): x"
    assert parse_result("s", ["noise", '{"a": 1}', ""]) == {"a": 1}
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_result("s", ["[1]"])


def test_argv_is_one_ml_call_and_unset_options_are_dropped() -> None:
    from ml.launch.exits import drop_empty_options, step_argv

    argv = step_argv("train", "r1", "dagster", {"data-uri": "s3://w/d", "max_train_samples": ""})
    assert argv == ["python", "-m", "ml", "train", "--run-id", "r1", "--orchestrator", "dagster",
                    "--data-uri", "s3://w/d", "--max-train-samples", ""]
    assert drop_empty_options(argv) == argv[:-2]
    assert drop_empty_options(["x", "--a", "0", "--b", " "]) == ["x", "--a", "0"]


# --- partitions, gates, params ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "explicit", "day"),
    [
        ("2026-12-01T00:00:00+00:00", None, date(2026, 11, 30)),  # the daily tick labels the day before
        ("2026-12-01T23:59:59+00:00", None, date(2026, 11, 30)),  # a manual run labels yesterday
        ("2026-12-01T01:00:00+02:00", None, date(2026, 11, 29)),  # UTC, whatever the caller's zone
        ("2026-12-01 06:00:00", None, date(2026, 11, 30)),  # naive = UTC
        ("2026-12-01T06:00:00Z", "2026-11-15", date(2026, 11, 15)),  # a named partition wins
    ],
)
def test_partition_rule(as_of, explicit, day) -> None:
    from ml.partitions import partition_date

    assert partition_date(as_of, explicit) == day


def test_partition_rule_defaults_to_now_and_rejects_bad_input() -> None:
    from ml.partitions import input_uri_for, partition_date

    before = datetime.now(UTC)
    day = partition_date()
    after = datetime.now(UTC)
    assert day in {(before - timedelta(days=1)).date(), (after - timedelta(days=1)).date()}  # midnight may pass
    with pytest.raises(BadInputError, match="not a date"):
        partition_date(None, "yesterday")
    with pytest.raises(BadInputError, match="not an ISO timestamp"):
        partition_date("soon")
    with pytest.raises(BadInputError, match=r"has no \{ds\}"):
        input_uri_for("s3://d/static.csv", date(2026, 1, 2))
    assert input_uri_for("s3://d/day={ds}/x.parquet", date(2026, 1, 2)) == "s3://d/day=2026-01-02/x.parquet"


def test_quality_gate_verdict(clean_env) -> None:
    from ml.config import load_settings
    from ml.gates import quality_gate, require_rows

    clean_env.setenv("ML_MIN_TEST_MACRO_F1", "0.8")
    s = load_settings()
    passed = quality_gate({"test_macro_f1": 0.85}, s)
    assert passed.passed and passed.reason == "test_macro_f1 0.8500 >= ML_MIN_TEST_MACRO_F1 0.8000"
    failed = quality_gate({"test_macro_f1": 0.5}, s)
    assert not failed.passed and "not registered; train longer (epochs)" in failed.reason
    assert not quality_gate({}, s).passed
    with pytest.raises(BadInputError, match="no rows in test, validation; add rows"):
        require_rows({"train": 3, "validation": 0, "test": 0}, "s3://d/x.csv", "add rows")


def test_param_bounds_come_from_ml_config() -> None:
    from ml.config import Settings
    from ml.params import pipeline_params

    epochs = next(p for p in pipeline_params("train") if p.name == "epochs")
    field = Settings.model_fields["epochs"]
    bounds = {type(m).__name__: m for m in field.metadata}
    assert epochs.schema == {"type": "integer", "minimum": bounds["Ge"].ge, "maximum": bounds["Le"].le}
    lr = next(p for p in pipeline_params("train") if p.name == "learning_rate")
    assert lr.schema == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    assert {p.step for p in pipeline_params("infer")} == {"load_inference_data", "load_model", "save_predictions"}
    with pytest.raises(ValueError, match="unknown pipeline"):
        pipeline_params("score")


# --- ml knows no orchestrator ------------------------------------------------------------------


def test_ml_imports_no_orchestrator_and_names_no_dag_job_or_asset() -> None:
    forbidden_imports = ("airflow", "dagster", "dagster_docker", "dagster_graphql", "dagster_k8s", "ml_dagster")
    forbidden_words = ("dagRuns", "/graphql", "/api/v2", "ml_training", "ml_inference", "training_job",
                       "inference_job", "ml_trigger")
    for path in sorted((REPO / "ml").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in forbidden_imports, f"{path}: imports {name}"
        text = path.read_text()
        for word in forbidden_words:
            assert word not in text, f"{path} names {word!r}"


def test_ml_modules_are_small_and_import_no_cycle() -> None:
    import importlib

    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "ml").rglob("*.py")):
        assert len(path.read_text().splitlines()) <= 400, f"{path} is over 400 lines"
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ml"):
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("ml"))
        graph[module] = deps
    modules = set(graph)
    graph = {m: {d for d in deps if d in modules and d != m and d != "ml"} for m, deps in graph.items()}

    def reach(start: str, node: str, seen: set[str]) -> bool:
        for nxt in graph[node]:
            if nxt == start:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reach(start, nxt, seen):
                    return True
        return False

    cycles = sorted(m for m in graph if reach(m, m, set()))
    assert not cycles, f"import cycles through {cycles}"
    importlib.import_module("ml.launch.env")


def test_step_time_limits_one_table_with_overrides(clean_env, monkeypatch) -> None:
    from ml.launch.exits import STEP_RETRY
    from ml.launch.settings import load_launch_settings
    from ml.launch.timeouts import DEFAULT_STEP_TIMEOUT_S, PIPELINE_STEPS, parse_overrides, run_limit_s

    assert parse_overrides("") == {}
    assert parse_overrides(" train = 12h , predict=30m,promote=45") == {"train": 43200, "predict": 1800, "promote": 45}
    assert set(s for steps in PIPELINE_STEPS.values() for s in steps) == set(DEFAULT_STEP_TIMEOUT_S)
    waits = sum(STEP_RETRY.delays())
    assert run_limit_s("review") == DEFAULT_STEP_TIMEOUT_S["review"] * (STEP_RETRY.retries + 1) + waits
    assert run_limit_s("train", "train=1m") == run_limit_s("train") - (6 * 3600 - 60) * (STEP_RETRY.retries + 1)
    monkeypatch.setenv("ML_STEP_TIMEOUTS", "predict=10m")
    settings = load_launch_settings()
    assert settings.step_limit_s("predict") == 600 and settings.step_limit_s("train") == 6 * 3600
    assert settings.run_limit_s("infer") == run_limit_s("infer", "predict=10m")


@pytest.mark.parametrize("value", ["train", "train=0s", "train=5d", "fit=1h", "train=1h;predict=2h"])
def test_bad_step_time_limits_are_one_line_errors(clean_env, monkeypatch, value) -> None:
    from ml.launch.settings import load_launch_settings

    monkeypatch.setenv("ML_STEP_TIMEOUTS", value)
    with pytest.raises(BadInputError) as error:
        load_launch_settings()
    message = str(error.value)
    assert "\n" not in message and "ML_STEP_TIMEOUTS" in message and "step=N[s|m|h]" in message

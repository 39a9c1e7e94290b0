"""The launch policy (`ml.launch`) and ml's run rules on their own, without an orchestrator.

tests/airflow/test_adapters_agree.py asks both adapters the same questions and checks that they
give these answers.
"""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ml.core.errors import BadInputError

REPO = Path(__file__).resolve().parents[3]


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

    assert load_launch_settings().container_limits() == {"cpu_shares": 1024, "mem_limit": "8g", "shm_size": "2g"}
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

    from ml.core.config import Settings
    from ml.core.secrets import NAMED_SECRETS, WELL_KNOWN_SECRETS, is_secret, masks_in_logs, secret_names

    from_settings = {f"ML_{name.upper()}" for name, f in Settings.model_fields.items() if f.annotation is SecretStr}
    assert from_settings == {"ML_S3_ACCESS_KEY", "ML_S3_SECRET_KEY"}
    assert secret_names() == from_settings | NAMED_SECRETS | WELL_KNOWN_SECRETS
    for name in ("ML_S3_SECRET_KEY", "MLFLOW_TRACKING_PASSWORD", "AWS_SESSION_TOKEN", "HF_TOKEN"):
        assert is_secret(name) and masks_in_logs(name), name
    for name in ("ML_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        assert is_secret(name) and not masks_in_logs(name), name
    for name in ("ML_PREDICT_BATCH_TOKENS", "TOKENIZERS_PARALLELISM", "ML_S3_ENDPOINT", "ML_KEYWORDS"):
        assert not is_secret(name), name


@pytest.mark.parametrize(("kind", "name", "value"), [
    ("SecretStr setting", "ML_S3_SECRET_KEY", "sk-value"),
    ("explicit list (library credential)", "MLFLOW_TRACKING_PASSWORD", "pw-value"),
    ("explicit list (ML_SECRET_NAMES)", "ML_MY_API_KEY", "mine-value"),
    ("well-known (Hub)", "HF_HUB_TOKEN", "hf_value"),
    ("well-known (AWS container credentials)", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abc"),
    ("well-known (Azure)", "AZURE_STORAGE_CONNECTION_STRING", "AccountKey=x"),
    ("URL credentials in the value", "MLFLOW_TRACKING_URI", "http://writer:pw-value@mlflow:5000"),
    ("presigned URL in the value", "ML_DATASET_URI", "https://h.example/a.csv?X-Amz-Signature=s"),
])
def test_each_kind_of_secret_stays_out_of_the_plain_step_environment(kind, name, value) -> None:
    from ml.core.secrets import is_secret
    from ml.launch.env import is_forwarded, step_environment

    environ = {name: value, "ML_SECRET_NAMES": "ml_my_api_key", "ML_EPOCHS": "2", "HF_HUB_OFFLINE": "1"}
    env = step_environment("airflow", environ)
    assert is_secret(name, value, environ), kind
    assert env.secret == ({name: value} if is_forwarded(name) else {}), kind  # AZURE_* is not forwarded at all
    assert value not in env.plain.values() and env.plain["ML_EPOCHS"] == "2", kind


def test_log_lines_mask_secret_values_and_url_credentials(monkeypatch) -> None:
    import logging

    from ml.core.logs import MaskSecrets

    environ = {"ML_S3_SECRET_KEY": "sk-123456", "HF_TOKEN": "hf_abcdef", "ML_S3_ACCESS_KEY": "writer",
               "ML_EPOCHS": "3", "MLFLOW_TRACKING_URI": "http://svc:pw-9876@mlflow:5000"}
    mask = MaskSecrets(environ)
    record = logging.LogRecord("ml", logging.INFO, __file__, 1, "key %s token %s from %s as %s epochs %s",
                               ("sk-123456", "hf_abcdef", environ["MLFLOW_TRACKING_URI"], "writer", "3"), None)
    assert mask.filter(record)
    assert record.getMessage() == "key *** token *** from http://mlflow:5000 as writer epochs 3"


# --- exit codes, retries, argv ----------------------------------------------------------------


def test_exit_contract_and_retry_numbers() -> None:
    from ml.core.errors import EXIT_BAD_INPUT, EXIT_TRANSIENT
    from ml.core.retry import STEP_RETRY
    from ml.launch.exits import error_reason, failure_message, parse_result, retryable

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
    from ml.data.partitions import partition_date

    assert partition_date(as_of, explicit) == day


def test_partition_rule_defaults_to_now_and_rejects_bad_input() -> None:
    from ml.data.partitions import input_uri_for, partition_date

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
    from ml.core.config import load_settings
    from ml.training.gates import quality_gate, require_rows

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
    from ml.core.config import Settings
    from ml.pipelines.params import param
    from ml.pipelines.spec import pipeline

    epochs = param("epochs")
    field = Settings.model_fields["epochs"]
    bounds = {type(m).__name__: m for m in field.metadata}
    assert epochs.schema == {"type": "integer", "minimum": bounds["Ge"].ge, "maximum": bounds["Le"].le}
    assert param("learning_rate").schema == {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
    inference = pipeline("infer")
    assert {inference.step_of_param(p.name).name for p in inference.params()} == {
        "load-inference-data", "load-model", "save-predictions"}
    with pytest.raises(ValueError, match="unknown pipeline"):
        pipeline("score")


# --- ml knows no orchestrator ------------------------------------------------------------------


def test_ml_imports_no_orchestrator_and_names_no_dag_job_or_asset() -> None:
    """The ML core knows no orchestrator; the pipeline spec is the one module that names DAGs, jobs and assets."""
    forbidden_imports = ("airflow", "dagster", "dagster_docker", "dagster_graphql", "dagster_k8s", "ml_dagster")
    forbidden_words = ("dagRuns", "/graphql", "/api/v2", "ml_training", "ml_inference", "training_job",
                       "inference_job", "ml_trigger")
    spec = REPO / "ml" / "pipelines" / "spec.py"
    for path in sorted((REPO / "ml").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in forbidden_imports, f"{path}: imports {name}"
        text = path.read_text()
        for word in forbidden_words if path != spec else ():
            assert word not in text, f"{path} names {word!r}"


def test_the_runners_names_are_written_only_in_the_spec() -> None:
    """No runner writes a task id, asset, check, op, DAG or job name of its own: they all read the spec.

    A quoted name in airflow/, dagster/, ml_trigger/ or bench/ is a second place that answers "what
    is this step called there", which is how the graph drifted (ml/ outside the spec names none:
    the test above).
    """
    from ml.pipelines.spec import all_steps, pipelines

    keys = {p.name for p in pipelines().values()} | {p.command for p in pipelines().values()}
    names = {step.airflow_task for step in all_steps()}
    names |= {n for step in all_steps() for n in (step.dagster_asset, step.dagster_check, step.dagster_op) if n}
    names |= {n for step in all_steps() for n in step.dagster_checks}
    names |= {n for p in pipelines().values() for n in (p.airflow_dag, p.dagster_job, p.dagster_group, *p.airflow_review_tasks)}
    names |= {n for p in pipelines().values() if p.daily for n in (p.daily.dagster_job, p.daily.dagster_group)}
    names -= keys | {""}  # a pipeline's own name is how runners look it up
    found = []
    for folder in ("airflow", "dagster", "ml_trigger", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            keys_read = {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                         and n.func.attr == "get" for a in n.args[:1]}  # a step result's key, not a name
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names
                        and id(node) not in keys_read):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


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
    from ml.core.retry import STEP_RETRY
    from ml.launch.settings import load_launch_settings
    from ml.launch.timeouts import default_limits, parse_overrides, run_limit_s
    from ml.pipelines.spec import all_steps

    assert parse_overrides("") == {}
    assert parse_overrides(" train = 12h , predict=30m,promote=45") == {"train": 43200, "predict": 1800, "promote": 45}
    assert default_limits() == {step.name: step.limit_s for step in all_steps()}  # the spec's, nowhere else
    waits = sum(STEP_RETRY.delays())
    assert run_limit_s("review") == default_limits()["review"] * (STEP_RETRY.retries + 1) + waits
    assert run_limit_s("training", "train=1m") == run_limit_s("training") - (6 * 3600 - 60) * (STEP_RETRY.retries + 1)
    monkeypatch.setenv("ML_STEP_TIMEOUTS", "predict=10m")
    settings = load_launch_settings()
    assert settings.step_limit_s("predict") == 600 and settings.step_limit_s("train") == 6 * 3600
    assert settings.run_limit_s("inference") == run_limit_s("inference", "predict=10m")


@pytest.mark.parametrize("value", ["train", "train=0s", "train=5d", "fit=1h", "train=1h;predict=2h"])
def test_bad_step_time_limits_are_one_line_errors(clean_env, monkeypatch, value) -> None:
    from ml.launch.settings import load_launch_settings

    monkeypatch.setenv("ML_STEP_TIMEOUTS", value)
    with pytest.raises(BadInputError) as error:
        load_launch_settings()
    message = str(error.value)
    assert "\n" not in message and "ML_STEP_TIMEOUTS" in message and "step=N[s|m|h]" in message

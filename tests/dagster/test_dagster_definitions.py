"""The code location loads, cheaply, with the assets, jobs, schedule and checks the pipelines need."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pydantic import ValidationError

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"  # holds ml_dagster (see conftest.py)

from ml.pipelines.spec import pipeline  # noqa: E402

TRAINING = [s.dagster_asset for s in pipeline("training").steps if s.dagster_asset]
INFERENCE = [s.dagster_asset for s in pipeline("inference").steps if s.dagster_asset]
DAILY = [f"daily/{name}" for name in INFERENCE]  # the same steps, one partition per day


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from ml_dagster.definitions import defs

    return defs


def test_import_is_cheap_and_has_no_heavy_dependencies() -> None:
    """A property, not a timing: loading the definitions imports no heavy library."""
    code = (
        "import sys; import ml_dagster.definitions as d; d.defs.get_repository_def(); "
        "print(sorted(m for m in ('torch', 'transformers', 'mlflow', 'pandas', 'ml.steps') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(DAGSTER_DIR), "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert out[-1] == "[]", f"heavy modules imported by the definitions: {out[-1]}"


def _reduced(parents: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The edges of a graph given by parents, without those a longer path implies."""
    def ancestors(node: str) -> set[str]:
        found, todo = set(), list(parents[node])
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(parents[current])
        return found

    return {(up, node) for node, ups in parents.items() for up in ups
            if not any(up in ancestors(other) for other in ups if other != up)}


@pytest.mark.parametrize(("name", "prefix"), [("training", ""), ("inference", ""), ("inference", "daily/")])
def test_each_asset_graph_is_the_pipeline_spec(defs: dg.Definitions, name: str, prefix: str) -> None:
    """Asset names and edges equal ml's spec (`python -m ml pipelines`): a drift between them fails here."""
    spec = pipeline(name)
    graph = defs.resolve_asset_graph()
    asset_of = {s.name: prefix + s.dagster_asset for s in spec.steps if s.dagster_asset}
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(asset_of.values()) <= keys
    parents = {a: {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(a)).parent_keys}
               for a in asset_of.values()}
    spec_edges = {(asset_of[a], asset_of[b]) for a, b in spec.edges() if a in asset_of and b in asset_of}
    # a step that runs as a check (check-drift) orders what follows it by its blocking check instead
    through_checks = {(asset_of[a], asset_of[c]) for a, b in spec.edges() for b2, c in spec.edges()
                      if b == b2 and a in asset_of and c in asset_of and b not in asset_of}
    assert _reduced(parents) == spec_edges | through_checks


def test_assets_form_the_two_graphs(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(TRAINING) | set(INFERENCE) | set(DAILY)
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert parents["predictions"] == {"inference_data", "production_model"}
    assert parents["published_predictions"] == {"predictions", "inference_data"}  # the day it labelled
    assert parents["registered_model"] == {"trained_model", "model_evaluation"}  # after the gate's evaluation
    assert parents["daily/predictions"] == {"daily/inference_data", "daily/production_model"}


def test_jobs_select_their_group_and_its_checks(defs: dg.Definitions) -> None:
    for name, assets in (("training_job", TRAINING), ("inference_job", INFERENCE), ("daily_inference_job", DAILY)):
        job = defs.resolve_job_def(name)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert selected == set(assets), name
    training_checks = {k.name for k in defs.resolve_job_def("training_job").asset_layer.asset_graph.asset_check_keys}
    assert {"training_data_is_valid", "quality_gate"} <= training_checks
    for name in ("inference_job", "daily_inference_job"):
        inference_checks = {k.name for k in defs.resolve_job_def(name).asset_layer.asset_graph.asset_check_keys}
        assert {"inference_data_is_valid", "input_drift"} <= inference_checks
    assert defs.resolve_job_def("inference_job").partitions_def is None  # manual runs: no partition needed


def test_checks_are_present_and_blocking(defs: dg.Definitions) -> None:
    checks = list(defs.asset_checks)
    specs = {(spec.name, spec.asset_key.to_user_string()): spec for check in checks for spec in check.check_specs}
    assert set(specs) == {
        ("training_data_is_valid", "training_data"),
        ("inference_data_is_valid", "inference_data"),
        ("quality_gate", "model_evaluation"),
        ("input_drift", "predictions"),
        ("inference_data_is_valid", "daily/inference_data"),
        ("input_drift", "daily/predictions"),
    }
    # all blocking: publishing waits for the drift check; it stops only on an ERROR (ML_DRIFT_BLOCKING)
    assert all(spec.blocking for spec in specs.values())
    # the checks only report ml's verdicts: none has a config schema (no threshold of its own;
    # the gate's is ML_MIN_TEST_MACRO_F1 only), unlike an asset that takes run parameters
    from dagster._config import ConfigTypeKind

    kinds = {check.node_def.name: check.node_def.config_field.config_type.kind for check in checks}
    assert set(kinds.values()) == {ConfigTypeKind.ANY}, kinds
    trained_model = defs.resolve_assets_def("trained_model")
    assert trained_model.node_def.config_field.config_type.kind == ConfigTypeKind.STRICT_SHAPE
    graph_checks = {(key.name, key.asset_key.to_user_string()) for key in defs.resolve_asset_graph().asset_check_keys}
    assert graph_checks == set(specs)


@pytest.mark.parametrize(("status", "blocking", "passed", "severity"), [
    ("ok", False, True, "WARN"),
    ("warn", False, False, "WARN"),
    ("drift", False, False, "WARN"),
    ("warn", True, False, "WARN"),
    ("drift", True, False, "ERROR"),  # the only verdict that stops publication
])
def test_drift_check_maps_mls_verdict(status: str, blocking: bool, passed: bool, severity: str) -> None:
    """ml raises DriftDetected (the step blocks) exactly for drift under ML_DRIFT_BLOCKING: then ERROR."""
    from ml_dagster.checks import verdict_result

    figure = {"psi": 0.3, "status": status, "share": 0.4, "reference_share": 0.01}
    verdict = {"status": status, "blocking": blocking, "summary": f"{status}: text_length PSI 0.300", "rows": 12,
               "statistics": {"text_length": figure, "unknown_words": figure, "predicted_label": figure},
               "mlflow_run_url": "http://mlflow:5000/#/experiments/3/runs/abc"}
    check = verdict_result(verdict, blocked=status == "drift" and blocking)
    assert (check.passed, check.severity.value) == (passed, severity)
    assert check.description == verdict["summary"]
    assert check.metadata["unknown_words_psi"].value == 0.3 and check.metadata["dagster/row_count"].value == 12
    assert check.metadata["mlflow_run_url"].value == verdict["mlflow_run_url"]
    assert check.metadata["ml_result"].value == verdict


def test_drift_check_of_a_version_without_a_reference_warns_and_does_not_block() -> None:
    from ml_dagster.checks import verdict_result

    verdict = {"status": "unchecked", "blocking": True, "summary": "v1 has no drift reference: inputs not checked",
               "rows": 0, "statistics": {}, "mlflow_run_url": ""}
    check = verdict_result(verdict, blocked=False)
    assert (check.passed, check.severity.value) == (False, "WARN") and check.description == verdict["summary"]


@pytest.mark.parametrize(("tick", "day"), [
    (datetime(2026, 3, 1, tzinfo=UTC), "2026-02-28"),
    (datetime(2026, 1, 2, tzinfo=UTC), "2026-01-01"),  # ml's FIRST_DAY: the first partition
])
def test_daily_schedule_labels_the_previous_days_partition(defs: dg.Definitions, tick: datetime, day: str) -> None:
    from ml.data.partitions import partition_date

    schedule = defs.resolve_schedule_def("daily_inference_schedule")
    assert schedule.job_name == "daily_inference_job"
    assert schedule.cron_schedule == "0 0 * * *" and schedule.execution_timezone == "UTC"
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context,
    ):
        [request] = schedule.evaluate_tick(context).run_requests
    # the tick at 00:00 on D+1 runs partition D: the day ml's rule labels at that moment
    assert request.partition_key == request.tags["dagster/partition"] == partition_date(tick).isoformat() == day
    assert request.run_key == day  # a day is launched once per tick
    assert not request.run_config  # the partition key alone says which day


def test_daily_partitions_are_mls_days(defs: dg.Definitions) -> None:
    """One partition per complete UTC day from ml's FIRST_DAY: the days a backfill may label."""
    from ml.data.partitions import FIRST_DAY, backfill_days, last_complete_day

    job = defs.resolve_job_def("daily_inference_job")
    partitions = job.partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition) and partitions.timezone == "UTC"
    for asset in DAILY:  # every daily asset is partitioned the same way; the manual graph not at all
        assert defs.resolve_assets_def(dg.AssetKey.from_user_string(asset)).partitions_def == partitions
    for asset in INFERENCE:
        assert defs.resolve_assets_def(asset).partitions_def is None
    now = datetime(2026, 3, 1, 6, tzinfo=UTC)
    keys = partitions.get_partition_keys(current_time=now)
    assert keys == [d.isoformat() for d in backfill_days(FIRST_DAY, last_complete_day(now), now)]
    assert keys[0] == "2026-01-01" and keys[-1] == "2026-02-28"
    # no partition at 00:00 on FIRST_DAY itself: that day is not over
    assert partitions.get_partition_keys(current_time=datetime(2026, 1, 1, tzinfo=UTC)) == []


def test_run_config_mirrors_the_airflow_params(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("training_job")
    good = {"ops": {"training_data": {"config": {"dataset_uri": "s3://datasets/x.csv"}},
                    "trained_model": {"config": {"base_model": "tiny", "epochs": 2, "learning_rate": 0.001,
                                                 "batch_size": 16, "seed": 1, "max_train_samples": 100}}}}
    assert dg.validate_run_config(job, good)
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, {"ops": {"trained_model": {"config": {"epochs": "many"}}}})
    inference = defs.resolve_job_def("inference_job")
    assert dg.validate_run_config(inference, {"ops": {
        "inference_data": {"config": {"input_uri": "s3://datasets/in.csv"}},
        "production_model": {"config": {"model_version": 3, "model_alias": "champion"}},
        "published_predictions": {"config": {"output_uri": "s3://predictions/out.parquet"}},
    }})


def test_io_manager_refuses_anything_but_a_small_dict() -> None:
    from ml_dagster.io_manager import StepOutputIOManager

    manager = StepOutputIOManager()
    with pytest.raises(TypeError, match="returned list"):
        manager.handle_output(dg.build_output_context(asset_key="x"), [1, 2])
    with pytest.raises(ValueError, match="pass URIs, not data"):
        manager.handle_output(dg.build_output_context(asset_key="x"), {"rows": ["text"] * 100_000})


def test_steps_fork_from_a_server_with_the_heavy_imports_done(defs: dg.Definitions) -> None:
    """A process per step, started by forkserver with ml's heavy modules preloaded (jobs.py).

    multiprocessing ignores a preload module that fails to import, so a typo would silently
    bring back the slow spawn-like start: every listed module must import.
    """
    import importlib

    for name in ("training_job", "inference_job"):
        executor = defs.resolve_job_def(name).executor_def
        assert executor.name == "multiprocess", name
        config = executor.config_schema.resolve_config({}).value["config"]
        preload = config["start_method"]["forkserver"]["preload_modules"]
        assert {"ml.steps", "torch", "transformers", "mlflow"} <= set(preload), name
    for module in preload:
        importlib.import_module(module)


def test_run_config_routes_run_params_to_the_assets_that_take_them(defs: dg.Definitions) -> None:
    from ml_dagster.config import run_config

    config = run_config("inference", {"partition_date": "2026-11-30", "model_version": 3})
    assert config == {"ops": {
        "inference_data": {"config": {"partition_date": "2026-11-30"}},
        "production_model": {"config": {"model_version": 3}},
    }}
    assert dg.validate_run_config(defs.resolve_job_def("inference_job"), config)
    train = run_config("training", {"dataset_uri": "s3://datasets/x.csv", "epochs": 2, "seed": None, "base_model": ""})
    assert train == {"ops": {"training_data": {"config": {"dataset_uri": "s3://datasets/x.csv"}},
                             "trained_model": {"config": {"epochs": 2}}}}  # unset (None, "") is left to the step
    assert dg.validate_run_config(defs.resolve_job_def("training_job"), train)
    assert run_config("inference", {}) == {}
    with pytest.raises(ValueError, match="'model_versoin'"):
        run_config("inference", {"model_versoin": 3})
    with pytest.raises(ValueError, match="'epochs'"):
        run_config("inference", {"epochs": 2})  # a training parameter is not the inference job's


def test_config_fields_are_optional_and_unset_ones_reach_no_step(defs: dg.Definitions) -> None:
    from ml.pipelines.spec import step_named
    from ml_dagster.config import config_class, step_options

    train, load_model, load_data = step_named("train"), step_named("load-model"), step_named("load-inference-data")
    TrainConfig, ProductionModelConfig = config_class(train), config_class(load_model)
    InferenceDataConfig = config_class(load_data)
    for job in ("training_job", "inference_job"):
        assert dg.validate_run_config(defs.resolve_job_def(job), {}), job  # every field optional
    assert step_options(TrainConfig(), train) == {}
    assert step_options(TrainConfig(epochs=3, seed=0), train) == {"epochs": 3, "seed": 0}
    # the step's keyword, where it differs from the parameter's name
    assert step_options(ProductionModelConfig(model_version=3, model_alias="challenger"), load_model) == {
        "version": 3, "alias": "challenger"}
    # as_of is a run fact (when the run labels), not a run parameter
    assert step_options(InferenceDataConfig(as_of="2026-03-01T00:00:00+00:00"), load_data) == {}
    # ml.pipelines.params' bounds hold when the asset builds its config
    with pytest.raises(ValidationError, match="partition_date"):
        InferenceDataConfig(partition_date="30.11.2026")
    with pytest.raises(ValidationError, match="model_version"):
        ProductionModelConfig(model_version=0)
    with pytest.raises(ValidationError, match="epochs"):
        TrainConfig(epochs=0)


@pytest.fixture
def fake_load_inference_data(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`ml.steps.load_inference_data` replaced: records its keywords, answers by ml's partition rule."""
    import ml.steps
    from ml.data.partitions import input_uri_for, partition_date

    calls: list[dict[str, Any]] = []

    def load_inference_data(*, run_id: str, input_uri: str | None = None, **kwargs: Any) -> dict[str, Any]:
        calls.append({"run_id": run_id, "input_uri": input_uri, **kwargs})
        day = None if input_uri else partition_date(kwargs.get("as_of"), kwargs.get("partition_date"))
        return {"data_uri": f"{local_env}/work/{run_id}/input.parquet",
                "input_uri": input_uri or input_uri_for("s3://datasets/inference/{ds}.csv", day),
                "partition_date": day.isoformat() if day else None, "rows": 3, "dropped_rows": 0, "fingerprint": "f00d"}

    monkeypatch.setattr(ml.steps, "load_inference_data", load_inference_data)
    return calls


def _inference_data_run(defs: dg.Definitions, config: dict[str, Any]) -> tuple[dg.ExecuteInProcessResult, Any]:
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("inference_job").execute_in_process(
        run_config={"ops": {"inference_data": {"config": config}}} if config else {},
        instance=instance, asset_selection=[dg.AssetKey("inference_data")],
    )
    assert result.success
    return result, instance.get_run_record_by_id(result.run_id)


def test_inference_data_without_config_labels_the_day_before_the_run_was_created(
    defs: dg.Definitions, fake_load_inference_data: list[dict[str, Any]]
) -> None:
    from ml.data.partitions import partition_date

    before = datetime.now(UTC)
    result, record = _inference_data_run(defs, {})
    after = datetime.now(UTC)
    [call] = fake_load_inference_data
    assert call["run_id"] == result.run_id and call["orchestrator"] == "dagster"
    assert set(call) == {"run_id", "input_uri", "as_of", "orchestrator"} and call["input_uri"] is None
    as_of = datetime.fromisoformat(call["as_of"])
    assert as_of == record.create_timestamp.astimezone(UTC) and before <= as_of <= after
    out = result.output_for_node("inference_data")
    assert out["partition_date"] == partition_date(as_of).isoformat()
    [event] = result.get_asset_materialization_events()
    metadata = event.event_specific_data.materialization.metadata
    assert metadata["ml_result"].value == out == metadata["step_output"].value  # the step's result, as is
    assert metadata["partition_date"].value == out["partition_date"]
    [check] = [e.asset_check_evaluation_data for e in result.all_events
               if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert check.check_name == "inference_data_is_valid" and check.passed


@pytest.mark.parametrize(("config", "passed"), [
    ({"as_of": "2026-03-01T00:00:00+00:00"}, {"as_of": "2026-03-01T00:00:00+00:00"}),  # a schedule's tick
    ({"partition_date": "2026-11-30"}, {"partition_date": "2026-11-30"}),  # the day named: no as_of
    ({"input_uri": "s3://datasets/in.csv"}, {"input_uri": "s3://datasets/in.csv"}),  # no partition at all
])
def test_inference_data_passes_what_is_set(
    defs: dg.Definitions, fake_load_inference_data: list[dict[str, Any]], config: dict[str, Any],
    passed: dict[str, Any],
) -> None:
    _inference_data_run(defs, config)
    [call] = fake_load_inference_data
    assert {key: value for key, value in call.items() if key not in ("run_id", "orchestrator") and value is not None} == passed

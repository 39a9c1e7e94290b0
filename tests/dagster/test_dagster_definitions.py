"""The code location loads, cheaply, with the assets, jobs, schedule and checks the pipelines need."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"  # holds ml_dagster (see conftest.py)

TRAINING = ["training_data", "trained_model", "model_evaluation", "registered_model"]
INFERENCE = ["inference_data", "production_model", "predictions", "published_predictions"]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from ml_dagster.definitions import defs

    return defs


def test_import_is_cheap_and_has_no_heavy_dependencies() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import ml_dagster.definitions as d; d.defs.get_repository_def(); "
        "print(time.perf_counter() - t); "
        "print(sorted(m for m in ('torch', 'transformers', 'mlflow', 'pandas', 'ml.steps') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(DAGSTER_DIR), "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    assert out[-1] == "[]", f"heavy modules imported by the definitions: {out[-1]}"
    assert float(out[-2]) < 10


def test_assets_form_the_two_graphs(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(TRAINING) | set(INFERENCE)
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert parents == {
        "training_data": set(),
        "trained_model": {"training_data"},
        "model_evaluation": {"training_data", "trained_model"},
        "registered_model": {"trained_model", "model_evaluation"},
        "inference_data": set(),
        "production_model": set(),
        "predictions": {"inference_data", "production_model"},
        "published_predictions": {"predictions"},
    }


def test_jobs_select_their_group_and_its_checks(defs: dg.Definitions) -> None:
    for name, assets in (("training_job", TRAINING), ("inference_job", INFERENCE)):
        job = defs.resolve_job_def(name)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert selected == set(assets), name
    training_checks = {k.name for k in defs.resolve_job_def("training_job").asset_layer.asset_graph.asset_check_keys}
    assert {"training_data_is_valid", "test_macro_f1_above_minimum"} <= training_checks
    inference_checks = {k.name for k in defs.resolve_job_def("inference_job").asset_layer.asset_graph.asset_check_keys}
    assert "inference_data_is_valid" in inference_checks


def test_checks_are_present_and_blocking(defs: dg.Definitions) -> None:
    from ml_dagster.checks import CHECKS

    specs = {spec.name: spec for check in CHECKS for spec in check.check_specs}
    assert {name: spec.asset_key.to_user_string() for name, spec in specs.items()} == {
        "training_data_is_valid": "training_data",
        "inference_data_is_valid": "inference_data",
        "test_macro_f1_above_minimum": "model_evaluation",
    }
    assert all(spec.blocking for spec in specs.values())
    graph_checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert graph_checks == set(specs)


def test_daily_schedule_labels_the_previous_days_partition(defs: dg.Definitions, monkeypatch: pytest.MonkeyPatch) -> None:
    schedule = defs.resolve_schedule_def("daily_inference_schedule")
    assert schedule.job_name == "inference_job"
    assert schedule.cron_schedule == "0 0 * * *" and schedule.execution_timezone == "UTC"
    monkeypatch.setenv("ML_INFERENCE_INPUT_TEMPLATE", "s3://inbox/texts/{ds}/part.jsonl")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 3, 1, tzinfo=UTC)
        )
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.run_key == "2026-02-28"
    assert request.run_config == {"ops": {"inference_data": {"config": {"input_uri": "s3://inbox/texts/2026-02-28/part.jsonl"}}}}
    # the run config the schedule produces is valid for the job
    assert dg.validate_run_config(defs.resolve_job_def("inference_job"), request.run_config)


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

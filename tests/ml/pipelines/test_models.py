"""The model catalog: its validation (one line per mistake), each model's settings, names and paths.

No services: the catalog is a file, the settings and names are pure functions of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.core import catalog
from ml.core.config import check_catalog, model_catalog, reset_settings, settings_for
from ml.core.errors import BadInputError

ROOT = Path(__file__).resolve().parents[3]

TWO_MODELS = """
models:
  text-classifier: {}
  support-tickets:
    description: Route tickets to a team
    dataset_uri: s3://datasets/tickets/train.csv
    text_column: message
    label_column: category
    id_column: ticket_id
    epochs: 5
    promotion_mode: approval
    inference_input_template: s3://datasets/tickets/{ds}.csv
    inference_schedule: "0 6 * * *"
    drift_blocking: true
"""


@pytest.fixture
def catalog_file(local_env: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a catalog to a file and point ML_MODEL_CATALOG at it."""

    def write(text: str) -> Path:
        path = local_env / "models.yaml"
        path.write_text(text)
        monkeypatch.setenv("ML_MODEL_CATALOG", str(path))
        reset_settings()
        return path

    return write


# --- validation ---------------------------------------------------------------------------------


def test_every_mistake_is_one_line_naming_the_file_the_model_and_the_field(catalog_file) -> None:
    path = catalog_file("""
models:
  text-classifier: {}
  tickets:
    epoch: 5
    epochs: 500
    text_column: message
  Bad Name: {}
  spam-v2: {}
  spam_v2:
    drift_warn_psi: 0.5
    drift_alert_psi: 0.3
""")
    with pytest.raises(catalog.CatalogError) as found:
        check_catalog()
    lines = found.value.lines
    assert all(line.startswith(f"{path}: ") and "\n" not in line for line in lines)
    assert len(lines) == 3  # shape and names are checked first: values are checked once those are right
    assert any("model 'tickets': field 'epoch' is not a catalog field; did you mean 'epochs'?" in line for line in lines)
    assert any("model 'Bad Name': not a valid model name" in line for line in lines)
    assert any("models 'spam-v2' and 'spam_v2' have the same Dagster name 'spam_v2'" in line for line in lines)

    catalog_file("""
models:
  tickets:
    epochs: 500
    inference_schedule: "every day"
  spam:
    drift_warn_psi: 0.5
    drift_alert_psi: 0.3
""")
    with pytest.raises(catalog.CatalogError) as found:
        check_catalog()
    lines = found.value.lines
    assert len(lines) == 3
    assert any("model 'tickets': field 'epochs'=500: Input should be less than or equal to 100" in line for line in lines)
    assert any("model 'tickets': field 'inference_schedule'='every day'" in line and "@daily" in line for line in lines)
    assert any("model 'spam': field 'drift_alert_psi'=0.3" in line and "above ML_DRIFT_WARN_PSI (0.5)" in line
               for line in lines)


@pytest.mark.parametrize(("text", "message"), [
    ("models:\n  a: {\n", "not valid YAML"),
    ("- a\n- b\n", "the top level must be one mapping `models:`"),
    ("modles:\n  a: {}\n", "the top level must be one mapping `models:` (found 'modles')"),
    ("models: [a, b]\n", "`models` must be a mapping"),
    ("models:\n  a: 3\n", "model 'a': must be a mapping of fields"),
])
def test_a_file_of_the_wrong_shape_is_one_line(catalog_file, text: str, message: str) -> None:
    catalog_file(text)
    with pytest.raises(BadInputError, match=None) as found:
        check_catalog()
    assert message in str(found.value) and "\n" not in str(found.value)


def test_two_models_watching_the_same_prefix_are_refused(catalog_file) -> None:
    catalog_file("models:\n  a: {new_data_prefix: s3://datasets/in/}\n  b: {new_data_prefix: s3://datasets/in}\n")
    with pytest.raises(catalog.CatalogError, match="models 'a' and 'b' watch the same new_data_prefix"):
        check_catalog()


def test_a_missing_catalog_file_is_one_line(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_MODEL_CATALOG", str(local_env / "nope.yaml"))
    reset_settings()
    with pytest.raises(BadInputError, match=r"ML_MODEL_CATALOG=.*nope.yaml does not exist"):
        check_catalog()


def test_the_cli_lists_the_models_or_prints_each_mistake_and_exits_2(catalog_file) -> None:
    path = catalog_file(TWO_MODELS)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ML_MODEL_CATALOG": str(path),
           "ML_HOME": str(path.parent / ".ml")}
    ok = subprocess.run([sys.executable, "-m", "ml", "models", "--json"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    listed = json.loads(ok.stdout.splitlines()[-1])
    assert [m["model"] for m in listed["models"]] == ["text-classifier", "support-tickets"]
    path.write_text("models:\n  a: {epoch: 1, seed: -1}\n")
    bad = subprocess.run([sys.executable, "-m", "ml", "models"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"error: {path}: model 'a': field 'epoch'" in errors[0]


# --- one model's settings -----------------------------------------------------------------------


def test_an_entry_sets_its_fields_and_leaves_the_rest_to_ml_settings(catalog_file, monkeypatch) -> None:
    monkeypatch.setenv("ML_BASE_MODEL", "distilbert-base-uncased")
    catalog_file(TWO_MODELS)
    s = settings_for(model_name="support-tickets")
    assert (s.model_name, s.text_column, s.label_column, s.id_column) == ("support-tickets", "message", "category", "ticket_id")
    assert (s.epochs, s.promotion_mode, s.drift_blocking, s.inference_schedule) == (5, "approval", True, "0 6 * * *")
    assert s.base_model == "distilbert-base-uncased"  # not in the entry: ML_BASE_MODEL
    assert settings_for(model_name="support-tickets", text_column="body").text_column == "body"  # a flag wins
    default = settings_for()
    assert (default.model_name, default.text_column, default.epochs) == ("text-classifier", "text", 2)


def test_models_never_share_a_location_an_experiment_or_a_new_data_prefix(catalog_file) -> None:
    catalog_file(TWO_MODELS)
    default, other = settings_for(), settings_for(model_name="support-tickets")
    base = settings_for()
    assert (default.work_uri, default.results_uri, default.experiment_name, default.new_data_prefix) == (
        base.work_uri, base.results_uri, "text-classification", "s3://datasets/training/")  # unchanged
    assert other.work_uri == f"{base.work_uri}/models/support-tickets"
    assert other.results_uri == f"{base.results_uri}/models/support-tickets"
    assert other.experiment_name == "text-classification/support-tickets"
    assert other.new_data_prefix == "s3://datasets/training/support-tickets/"
    from ml.core import workspace
    from ml.data.partitions import daily_results_uri, parse_date

    run = "manual__2026-11-25T06:34:22+00:00"  # Airflow gives two DAGs' runs the same id
    assert workspace.run_uri(default, run, "data") != workspace.run_uri(other, run, "data")
    day = parse_date("2026-11-20")
    assert daily_results_uri(default.results_uri, day) != daily_results_uri(other.results_uri, day)
    assert not workspace.run_uri(default, run).startswith(other.work_uri)


def test_with_a_file_a_model_not_in_it_is_refused_without_one_any_valid_name_is_a_model(
    catalog_file, local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_file(TWO_MODELS)
    with pytest.raises(BadInputError, match=r"model 'support-ticket' is not in the model catalog .*did you mean "
                                             r"'support-tickets'\?.*models: text-classifier, support-tickets"):
        settings_for(model_name="support-ticket")
    monkeypatch.delenv("ML_MODEL_CATALOG")
    reset_settings()
    assert model_catalog().names() == ["text-classifier"]
    assert settings_for(model_name="tickets").results_uri.endswith("/models/tickets")  # embedded: a model of its own
    with pytest.raises(BadInputError, match="model name 'My Tickets' is not valid"):
        settings_for(model_name="My Tickets")


def test_the_default_model_is_always_in_the_catalog(catalog_file, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_MODEL_NAME", "reviews")
    catalog_file("models:\n  spam: {}\n")
    found = check_catalog()
    assert found.names() == ["reviews", "spam"] and found.is_default("reviews")


def test_the_content_from_the_launcher_wins_over_an_absent_file(local_env: Path, monkeypatch) -> None:
    """Step containers do not mount the file: the launcher hands them its content (ML_MODEL_CATALOG_TEXT)."""
    from ml.launch.env import step_environment

    path = local_env / "models.yaml"
    path.write_text(TWO_MODELS)
    env = step_environment("airflow", {"ML_MODEL_CATALOG": str(path)})
    assert env.plain["ML_MODEL_CATALOG_TEXT"] == TWO_MODELS
    monkeypatch.setenv("ML_MODEL_CATALOG", "/not/mounted/here/models.yaml")
    monkeypatch.setenv("ML_MODEL_CATALOG_TEXT", env.plain["ML_MODEL_CATALOG_TEXT"])
    reset_settings()
    assert settings_for(model_name="support-tickets").text_column == "message"


@pytest.mark.parametrize(("value", "when"), [("@daily", (0, 0)), ("0 6 * * *", (6, 0)), ("30 23 * * *", (23, 30)),
                                             ("none", None), ("manual", None)])
def test_the_schedule_is_daily_at_a_time_or_none(value: str, when: tuple[int, int] | None) -> None:
    assert catalog.schedule_time(value) == when


@pytest.mark.parametrize("value", ["@hourly", "0 6 * * 1", "60 1 * * *", "0 24 * * *", "*/5 * * * *"])
def test_a_schedule_that_is_not_daily_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="@daily"):
        catalog.schedule_time(value)


# --- names --------------------------------------------------------------------------------------


def test_the_default_model_keeps_the_spec_names_another_gets_its_own(catalog_file) -> None:
    from ml.pipelines.models import model_pipeline, model_pipelines
    from ml.pipelines.spec import pipeline

    catalog_file(TWO_MODELS)
    spec = pipeline("training")
    default, tickets = model_pipelines("training")
    assert (default.airflow_dag, default.dagster_job, default.dagster_group, default.dagster_prefix) == (
        spec.airflow_dag, spec.dagster_job, spec.dagster_group, ())
    assert tickets.airflow_dag == f"{spec.airflow_dag}__support-tickets"
    assert tickets.dagster_job == f"{spec.dagster_job}__support_tickets"
    assert tickets.dagster_group == f"support_tickets__{spec.dagster_group}"
    assert tickets.dagster_prefix == ("support_tickets",)
    daily = model_pipeline("infer", "support-tickets").daily
    assert daily is not None and daily.dagster_job.endswith("__support_tickets")
    # the default model's steps read ML_MODEL_NAME; another model's every step is told its model
    assert all(default.model_option(step) == {} for step in default.steps)
    assert all(tickets.model_option(step) == {"model_name": "support-tickets"} for step in tickets.steps
               if "model_name" not in step.inputs)
    inference = model_pipeline("inference", "support-tickets")
    assert inference.model_option(inference.step("predict")) == {}  # load-model's output names it


def test_every_model_has_its_own_names_in_each_runner(catalog_file) -> None:
    from ml.pipelines.models import model_pipelines

    catalog_file(TWO_MODELS + "  spam: {}\n")
    for name in ("training", "inference", "review"):
        specs = model_pipelines(name)
        for key in ("airflow_dag", "dagster_job", "dagster_group"):
            assert len({getattr(s, key) for s in specs}) == 3, (name, key)

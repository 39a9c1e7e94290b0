"""Many models against a real MLflow server: no silent wrong labels, isolation, and an audit trail
that names the right actor and evidence when promoters race.

Versions are made as `ml.steps.register` leaves them (metric, task signature, lineage tags) without
training, so each test runs in seconds.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ml.core.config import get_settings, reset_settings, settings_for
from ml.core.errors import BadInputError
from ml.lifecycle import champion, history, registry
from tests.ml.registry_versions import new_version

pytestmark = pytest.mark.integration

SENTIMENT = champion.task_signature(["negative", "neutral", "positive"], "text", "label")
STARS = champion.task_signature(["1", "3", "5"], "text", "label")


def _new_version(score: float, signature: str | None = SENTIMENT, *, model: str | None = None,
                 owner: tuple[str, str] = ("airflow", "manual__1"), **tags: str) -> str:
    """A version of `model` with the lineage tags register sets (orchestrator, pipeline run)."""
    return new_version(score, signature, {"orchestrator": owner[0], "pipeline_run_id": owner[1], **tags}, model=model)


def _relabelled(source: str, dest: Path, mapping: dict[str, str] | None = None, header: dict[str, str] | None = None) -> Path:
    """The live demo set, relabelled (another label set) and/or with other column names."""
    from ml.core import storage

    local = storage.fetch(source, dest.with_suffix(".orig.csv"))
    with open(local, newline="", encoding="utf-8") as src, open(dest, "w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        names = {n: (header or {}).get(n, n) for n in reader.fieldnames or []}
        writer = csv.DictWriter(dst, fieldnames=list(names.values()))
        writer.writeheader()
        for row in reader:
            row["label"] = (mapping or {}).get(row["label"], row["label"])
            writer.writerow({names[k]: v for k, v in row.items()})
    return dest


# --- no silent wrong labels ----------------------------------------------------------------------


def test_training_another_task_under_a_models_name_is_refused_before_it_trains(live_env, tmp_path: Path) -> None:
    """The issue's sequence: another label set under an existing name. Exit 2 naming both ways out,
    before anything is published; nothing registered. With --new-task it loads, and promote moves the
    model's task on purpose."""
    v1 = _new_version(0.8)
    champion.promote(v1, get_settings())
    stars = _relabelled(live_env.demo_dataset_uri, tmp_path / "stars.csv", {"negative": "1", "neutral": "3", "positive": "5"})
    run_id = f"refused-{uuid.uuid4().hex[:6]}"
    proc = subprocess.run([sys.executable, "-m", "ml", "load-training-data", "--run-id", run_id, "--dataset-uri", str(stars)],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert "--model-name" in error and "--new-task" in error and "labels 1, 3, 5" in error
    assert f"champion v{v1}" in error and get_settings().model_name in error
    from ml.core import storage, workspace

    assert not storage.exists(storage.join(workspace.run_uri(get_settings(), run_id, "data"), "manifest.json"))
    assert [v.version for v in registry.all_versions(get_settings())] == [v1]

    from ml.steps import load_training_data

    loaded = load_training_data(run_id=f"{run_id}-on-purpose", dataset_uri=str(stars), new_task=True)
    assert loaded["labels"] == ["1", "3", "5"] and loaded["new_task"] is True
    v2 = _new_version(0.7, STARS, new_task="true")  # what register leaves for a run trained with --new-task
    moved = champion.promote(v2, get_settings())
    assert moved.promoted and registry.champion_version(get_settings()) == v2
    assert "new task" in moved.decision and "labels 1, 3, 5" in moved.decision
    v3 = _new_version(0.99, SENTIMENT)  # the old task no longer wins, however good
    assert not champion.promote(v3, get_settings()).promoted


def test_the_same_data_under_a_model_of_its_own_trains(live_env, tmp_path: Path) -> None:
    _new_version(0.8)
    champion.promote("1", get_settings())
    tickets = _relabelled(live_env.demo_dataset_uri, tmp_path / "tickets.csv", header={"text": "message", "label": "category",
                                                                                        "id": "ticket_id"})
    from ml.steps import load_training_data

    own = f"tickets-{uuid.uuid4().hex[:6]}"
    loaded = load_training_data(run_id="tickets-1", dataset_uri=str(tickets), model_name=own, text_column="message",
                                label_column="category", id_column="ticket_id")
    assert loaded["model_name"] == own and loaded["rows"]["train"] > 0
    assert loaded["data_uri"].startswith(settings_for(model_name=own).work_uri)


# --- isolation -----------------------------------------------------------------------------------


def test_each_model_has_its_own_champion_history_and_versions(live_env) -> None:
    from ml.steps import load_model

    other = f"spam-{uuid.uuid4().hex[:6]}"
    a1 = _new_version(0.8)
    champion.promote(a1, get_settings())
    with pytest.raises(BadInputError, match=f"no registered model '{other}'"):
        load_model(run_id="r1", model_name=other)  # never the default model's champion
    with pytest.raises(BadInputError, match=f"no registered model '{other}'"):
        load_model(run_id="r1", model_name=other, version=a1)  # nor its version by number
    b1 = _new_version(0.6, champion.task_signature(["ham", "spam"], "body", "is_spam"), model=other)
    champion.promote(b1, settings_for(model_name=other))
    mine, theirs = load_model(run_id="r2"), load_model(run_id="r2", model_name=other)
    assert (mine["model_name"], theirs["model_name"]) == (get_settings().model_name, other)
    assert mine["mlflow_run_id"] != theirs["mlflow_run_id"]
    assert [m.new for m in history.read(get_settings())] == [a1]
    assert [m.new for m in history.read(settings_for(model_name=other))] == [b1]
    assert history.experiment_name(get_settings()) != history.experiment_name(settings_for(model_name=other))


# --- the audit trail under concurrency -----------------------------------------------------------


def test_a_promoter_that_moves_another_runs_version_says_whose_on_which_evidence_and_on_whose_behalf(live_env) -> None:
    """Dagster's run registered v1, Airflow's v2 with the same score (ties go to the newer): Dagster's
    promoter moves the alias to v2. The entry and both decisions must say so."""
    s = get_settings()
    v1 = _new_version(0.8076, owner=("dagster", "d-run"))
    v2 = _new_version(0.8076, owner=("airflow", "a-run"))
    dagster = champion.promote(v1, s, actor="dagster:d-run")
    assert not dagster.promoted and dagster.champion_version == v2
    assert f"moved champion none -> v{v2}" in dagster.decision and "airflow:a-run's version" in dagster.decision
    assert "on that run's behalf" in dagster.decision
    [entry] = history.read(s)
    assert (entry.new, entry.actor, entry.on_behalf_of) == (v2, "dagster:d-run", "airflow:a-run")
    assert entry.reason.startswith(f"v{v2} test_macro_f1=0.8076")  # v2's evidence, not v1's
    airflow = champion.promote(v2, s, actor="airflow:a-run")
    assert airflow.promoted and airflow.champion_version == v2
    assert "dagster:d-run moved it there (none -> v" in airflow.decision and "on this run's behalf" in airflow.decision
    assert "previous champion: none" in airflow.decision and f"previous champion: v{v2}" not in airflow.decision
    assert len(history.read(s)) == 1  # the move is listed once
    assert "dagster:d-run for airflow:a-run" in history.table(history.read(s))


def test_a_promoter_of_its_own_version_names_no_one_else(live_env) -> None:
    s = get_settings()
    v1 = _new_version(0.7, owner=("airflow", "a-run"))
    outcome = champion.promote(v1, s, actor="airflow:a-run")
    assert outcome.promoted and outcome.decision.startswith(f"promoted v{v1}")
    [entry] = history.read(s)
    assert entry.on_behalf_of == "" and entry.actor == "airflow:a-run"


@pytest.fixture(autouse=True)
def _settings_per_test() -> None:
    reset_settings()

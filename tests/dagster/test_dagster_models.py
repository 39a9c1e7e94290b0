"""The code location with a model catalog of two models: each model's assets under its key prefix,
its groups, jobs, schedule, sensor and review job, each graph equal to the spec.

The definitions are loaded in a fresh interpreter per catalog (the module reads it when imported).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"
REPO = DAGSTER_DIR.parent

CATALOG = """
models:
  text-classifier: {}
  support-tickets:
    text_column: message
    inference_schedule: "30 6 * * *"
    train_on_new_data: true
  spam:
    inference_schedule: none
"""

DESCRIBE = """
import json
import dagster as dg
from ml_dagster.definitions import defs
from ml_dagster.config import run_config
graph = defs.resolve_asset_graph()
repo = defs.get_repository_def()
out = {
    "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
    "parents": {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys)
                for k in graph.get_all_asset_keys()},
    "groups": {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()},
    "jobs": sorted(j.name for j in repo.get_all_jobs()),
    "job_assets": {j.name: sorted(k.to_user_string() for k in j.asset_layer.selected_asset_keys)
                   for j in repo.get_all_jobs() if j.asset_layer.selected_asset_keys},
    "schedules": {s.name: [s.cron_schedule, s.job_name] for s in repo.schedule_defs},
    "sensors": {s.name: [s.job_name, s.default_status.name] for s in repo.sensor_defs},
    "config_valid": bool(dg.validate_run_config(defs.resolve_job_def("training_job__support_tickets"),
                         run_config("training", {"dataset_uri": "s3://d/t.csv", "epochs": 2}, "support-tickets"))),
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def described(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("catalog")
    (folder / "models.yaml").write_text(CATALOG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")}
    env.update(PYTHONPATH=f"{DAGSTER_DIR}:{REPO}", ML_MODEL_CATALOG=str(folder / "models.yaml"),
               ML_HOME=str(folder / ".ml"))
    out = subprocess.run([sys.executable, "-c", DESCRIBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_each_model_has_its_assets_under_its_prefix_and_the_same_graph(described: dict) -> None:
    from ml.pipelines.spec import pipeline

    training = [s.dagster_asset for s in pipeline("training").steps if s.dagster_asset]
    inference = [s.dagster_asset for s in pipeline("inference").steps if s.dagster_asset]
    assets = set(described["assets"])
    for prefix in ("", "support_tickets/", "spam/"):
        assert {prefix + a for a in training} <= assets
        assert {prefix + a for a in inference} <= assets
        assert {f"{prefix}daily/{a}" for a in inference} <= assets
        assert described["parents"][f"{prefix}predictions"] == sorted(
            [f"{prefix}inference_data", f"{prefix}production_model"])  # never another model's assets
        assert described["groups"][f"{prefix}trained_model"] == (f"{prefix.rstrip('/')}__training" if prefix else "training")
    assert len(assets) == 3 * (len(training) + 2 * len(inference))


def test_each_model_has_its_jobs_schedule_sensor_and_review_job(described: dict) -> None:
    jobs = set(described["jobs"])
    for suffix in ("", "__support_tickets", "__spam"):
        assert {f"training_job{suffix}", f"inference_job{suffix}", f"daily_inference_job{suffix}",
                f"review_job{suffix}"} <= jobs
    assert all(a.startswith("support_tickets/") for a in described["job_assets"]["training_job__support_tickets"])
    assert described["schedules"] == {
        "daily_inference_schedule": ["0 0 * * *", "daily_inference_job"],
        "support_tickets__daily_inference_schedule": ["30 6 * * *", "daily_inference_job__support_tickets"],
    }  # spam: `none`, manual runs only
    assert described["sensors"]["new_training_data_sensor__support_tickets"] == ["training_job__support_tickets",
                                                                                  "RUNNING"]
    assert described["sensors"]["new_training_data_sensor"] == ["training_job", "STOPPED"]
    assert described["config_valid"]  # make train MODEL=support-tickets builds a run config the job takes

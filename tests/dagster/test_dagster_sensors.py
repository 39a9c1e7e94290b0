"""The new-data sensor against the real S3 server: one valid training run request per training file."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from services import put_text

from ml.core.config import reset_settings
from ml.data.new_data import run_key

DAGSTER_DIR = Path(__file__).resolve().parents[2] / "dagster"  # holds ml_dagster (see conftest.py)






def _evaluate(name: str = "new_training_data_sensor") -> dg.SensorResult:
    from ml_dagster.definitions import defs

    with dg.instance_for_test() as instance:
        return defs.resolve_sensor_def(name)(dg.build_sensor_context(instance=instance))


def test_sensor_is_registered_for_the_training_job() -> None:
    from ml_dagster.definitions import defs

    sensor = defs.resolve_sensor_def("new_training_data_sensor")
    assert sensor.job_name == "training_job"


def test_empty_prefix_is_a_skip_with_the_reason(prefix: str) -> None:
    result = _evaluate()
    assert not result.run_requests
    assert prefix in result.skip_reason.skip_message


def test_five_files_at_once_are_five_runs_each_on_its_file(prefix: str, tmp_path: Path) -> None:
    from ml_dagster.definitions import defs

    names = [f"batch/{i}.csv" for i in range(5)]
    for name in names:
        put_text(tmp_path, prefix + name, f"id,text,label\n{name},text,pos\n")
    put_text(tmp_path, prefix + "batch/_SUCCESS", "")

    requests = _evaluate().run_requests
    assert [r.run_config["ops"]["training_data"]["config"]["dataset_uri"] for r in requests] == [prefix + n for n in names]
    assert len({r.run_key for r in requests}) == 5
    job = defs.resolve_job_def("training_job")
    for request in requests:
        assert dg.validate_run_config(job, request.run_config)
        uri = request.tags["ml/new_data_uri"]
        assert request.run_key == run_key(uri.split("/", 3)[3], request.tags["ml/new_data_etag"])


def test_same_bytes_keep_the_run_key_and_changed_bytes_get_a_new_one(prefix: str, tmp_path: Path) -> None:
    put_text(tmp_path, prefix + "a.csv", "id,text,label\n1,x,pos\n")
    first = {r.run_key for r in _evaluate().run_requests}
    put_text(tmp_path, prefix + "a.csv", "id,text,label\n1,x,pos\n")
    assert {r.run_key for r in _evaluate().run_requests} == first  # Dagster launches a run key once
    put_text(tmp_path, prefix + "a.csv", "id,text,label\n1,y,neg\n")
    changed = {r.run_key for r in _evaluate().run_requests}
    assert len(changed) == 1 and changed != first


def test_a_missing_bucket_fails_the_tick_instead_of_skipping(live_env, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.core.errors import BadInputError

    monkeypatch.setenv("ML_NEW_DATA_PREFIX", "s3://no-such-bucket-here/training/")
    reset_settings()
    with pytest.raises(BadInputError, match="does not exist"):
        _evaluate()


@pytest.mark.parametrize(("setting", "status"), [("true", "RUNNING"), ("false", "STOPPED"), (None, "STOPPED")])
def test_the_setting_decides_whether_the_sensor_runs(setting: str | None, status: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")}
    if setting is not None:
        env["ML_TRAIN_ON_NEW_DATA"] = setting
    code = ("from ml_dagster.definitions import defs; "
            "print(defs.resolve_sensor_def('new_training_data_sensor').default_status.name)")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**env, "PYTHONPATH": str(DAGSTER_DIR)},
    )
    assert out.stdout.split()[-1] == status

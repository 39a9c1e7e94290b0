"""ml_new_data: the asset watcher's trigger against the real S3 server, and the runs the DAG starts.

Airflow is imported inside the tests (conftest.py sets AIRFLOW_HOME first).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from services import put_text

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"
if str(DAGS_FOLDER) not in sys.path:
    sys.path.append(str(DAGS_FOLDER))  # as Airflow's triggerer gets it (compose: PYTHONPATH)






class _Watch:
    """The trigger running in an event loop of its own thread (as in the triggerer); events are queued."""

    def __init__(self, prefix: str) -> None:
        from ml_airflow.new_data_trigger import NewTrainingDataTrigger

        self.trigger = NewTrainingDataTrigger(prefix=prefix, poll_interval=0.2)
        self.queue: queue.Queue[Any] = queue.Queue()
        self.loop = asyncio.new_event_loop()
        self.task = self.loop.create_task(self._consume())
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self.task)
        self.loop.close()

    async def _consume(self) -> None:
        async for event in self.trigger.run():
            self.queue.put(event.payload)

    def poll_objects(self) -> list[dict[str, Any]]:
        """The objects named by the events fired until the stream stays quiet."""
        return watch_objects(self.poll())

    def poll(self) -> list[dict[str, Any]]:
        """The events fired until the stream stays quiet for 3 s (many poll intervals)."""
        out = []
        while True:
            try:
                out.append(self.queue.get(timeout=3.0))
            except queue.Empty:
                assert not self.task.done(), f"the trigger stopped: {self.task.exception()}"
                return out

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=30)
        assert self.task.cancelled()


def watch_objects(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from ml.data.new_data import objects_of

    return [o.payload() for event in events for o in objects_of(event)]


@pytest.fixture
def watch(prefix: str):
    w = _Watch(prefix)
    yield w
    w.close()


def test_trigger_fires_once_per_new_version_of_a_training_file(prefix: str, watch: _Watch, tmp_path: Path) -> None:
    for name in ("a.csv", "b.parquet", "_SUCCESS", "notes.txt"):
        put_text(tmp_path, prefix + name, f"content of {name}")
    first = watch.poll_objects()
    assert [e["uri"] for e in first] == [prefix + "a.csv", prefix + "b.parquet"]

    put_text(tmp_path, prefix + "a.csv", "content of a.csv")  # the same bytes: no event
    assert watch.poll() == []

    put_text(tmp_path, prefix + "a.csv", "changed")  # a new version: one event, a new run key
    changed = watch.poll_objects()
    assert [e["uri"] for e in changed] == [prefix + "a.csv"]
    assert changed[0]["run_key"] != first[0]["run_key"]


def test_five_files_at_once_fire_one_event_naming_all_five(prefix: str, watch: _Watch, tmp_path: Path) -> None:
    """One event per listing: Airflow would leave events landing together for a later run."""
    for i in range(5):
        put_text(tmp_path, f"{prefix}{i}.csv", f"file {i}")
    events = watch.poll()
    assert len(events) == 1
    assert len({o["run_key"] for o in watch_objects(events)}) == 5


def test_trigger_reports_a_missing_bucket_and_keeps_watching(live_env, caplog: pytest.LogCaptureFixture) -> None:
    watch = _Watch("s3://no-such-bucket-here/training/")
    try:
        assert watch.poll() == []
        assert "cannot list s3://no-such-bucket-here/training/" in caplog.text
        assert watch.poll() == []  # still polling: the stream has not ended
    finally:
        watch.close()


def test_trigger_is_an_event_trigger_that_serializes_its_settings() -> None:
    from airflow.triggers.base import BaseEventTrigger
    from ml_airflow.new_data_trigger import NewTrainingDataTrigger

    trigger = NewTrainingDataTrigger(prefix="s3://datasets/x/", poll_interval=0.2)
    assert isinstance(trigger, BaseEventTrigger)
    assert trigger.serialize() == (
        "ml_airflow.new_data_trigger.NewTrainingDataTrigger",
        {"prefix": "s3://datasets/x/", "poll_interval": 0.2, "exclude": []},  # exclude: other models' nested prefixes
    )


def test_each_event_is_one_training_run_with_a_deterministic_id() -> None:
    from ml_new_data import training_runs

    from ml.data.new_data import NewObject, run_key

    objects = [NewObject(f"s3://datasets/training/{i}.csv", f"training/{i}.csv", f"e{i}", run_key(f"training/{i}.csv", f"e{i}"))
               for i in range(5)]
    from ml.data.new_data import batch_payload

    # collapsed events (a batch and two single objects), one object twice
    events = [{"payload": batch_payload(objects[:3])}, *({"payload": o.payload()} for o in [*objects[3:], objects[0]])]
    runs = training_runs(events)
    assert [r["trigger_run_id"] for r in runs] == [f"new_data__{o.run_key}" for o in objects]
    assert [r["conf"] for r in runs] == [{"dataset_uri": o.uri} for o in objects]


def test_dag_exists_only_when_the_setting_is_on(load_dags) -> None:
    assert "ml_new_data" not in load_dags(ML_TRAIN_ON_NEW_DATA="false").dags
    bag = load_dags(ML_TRAIN_ON_NEW_DATA="true", ML_NEW_DATA_PREFIX="s3://datasets/incoming", ML_NEW_DATA_POLL_S="30")
    assert bag.import_errors == {}
    dag = bag.dags["ml_new_data"]
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    assert watcher.trigger.serialize()[1] == {"prefix": "s3://datasets/incoming/", "poll_interval": 30, "exclude": []}
    start = dag.get_task("start_training")
    assert start.partial_kwargs["trigger_dag_id"] == "ml_training"
    assert start.partial_kwargs["skip_when_already_exists"] is True


def test_dag_serializes_with_its_watcher(load_dags) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = load_dags(ML_TRAIN_ON_NEW_DATA="true").dags["ml_new_data"]
    data = DagSerialization.to_dict(dag)
    text = repr(data)
    assert "ml_airflow.new_data_trigger.NewTrainingDataTrigger" in text
    assert "ml_new_training_data_watcher" in text


def test_dag_file_parse_is_cheap(tmp_path) -> None:
    code = (
        "import sys, time, runpy; import airflow.sdk; sys.path.append(sys.argv[1]);"
        "t = time.process_time(); runpy.run_path(sys.argv[2]); print(time.process_time() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS_FOLDER), str(DAGS_FOLDER / "ml_new_data.py")],
        env={**os.environ, "ML_TRAIN_ON_NEW_DATA": "true"}, capture_output=True, text=True, check=True, timeout=120,
    )
    assert float(out.stdout.strip().splitlines()[-1]) < 1.0

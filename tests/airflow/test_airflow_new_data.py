"""ml_new_data: the asset watcher's trigger against the real S3 server, and the runs the DAG starts.

Airflow is imported inside the tests (conftest.py sets AIRFLOW_HOME first).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from dag_parse import parse_imports
from services import put_text

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "airflow" / "dags"
if str(DAGS_FOLDER) not in sys.path:
    sys.path.append(str(DAGS_FOLDER))  # as Airflow's triggerer gets it (compose: PYTHONPATH)

#: How long a test waits for what must happen (a listing, an event): a bound, never an expectation.
DEADLINE_S = 120.0


class _Watch:
    """The trigger running in an event loop of its own thread (as in the triggerer); events are queued.

    Speed-proof: the waits count the trigger's listings (ml.data.new_data.training_objects, wrapped by
    the test) instead of guessing how long a listing takes, so a loaded machine only makes them longer.
    """

    def __init__(self, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
        from ml_airflow.new_data_trigger import NewTrainingDataTrigger

        from ml.data import new_data

        self.listings = 0
        self.changed = threading.Condition()
        real = new_data.training_objects

        def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                return real(*args, **kwargs)
            finally:
                with self.changed:
                    self.listings += 1
                    self.changed.notify_all()

        monkeypatch.setattr(new_data, "training_objects", counted)  # the trigger imports it when it starts
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

    def wait_listings(self, count: int) -> None:
        """Block until `count` listings have completed in all (the deadline only bounds a hang)."""
        with self.changed:
            done = self.changed.wait_for(lambda: self.listings >= count or self.task.done(), timeout=DEADLINE_S)
        assert not self.task.done(), f"the trigger stopped: {self.task.exception()}"
        assert done, f"only {self.listings} listings of {count} within {DEADLINE_S:.0f} s"

    def poll(self) -> list[dict[str, Any]]:
        """Every event fired for what is in the store now.

        A listing that was running when this is called may have started before the last upload;
        the next one started after it and sees everything. Its event is queued before the
        trigger lists again, so after that third listing the queue holds all there is to fire.
        """
        self.wait_listings(self.listings + 3)
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.queue.get_nowait())
        return out

    def poll_objects(self) -> list[dict[str, Any]]:
        """The objects named by the events of `poll()`, in the order they were fired."""
        return watch_objects(self.poll())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=DEADLINE_S)
        assert self.task.cancelled()


def watch_objects(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from ml.data.new_data import objects_of

    return [o.payload() for event in events for o in objects_of(event)]


@pytest.fixture
def watch(prefix: str, monkeypatch: pytest.MonkeyPatch):
    w = _Watch(prefix, monkeypatch)
    yield w
    w.close()


def test_trigger_fires_once_per_new_version_of_a_training_file(prefix: str, watch: _Watch, tmp_path: Path) -> None:
    for name in ("a.csv", "b.parquet", "_SUCCESS", "notes.txt"):
        put_text(tmp_path, prefix + name, f"content of {name}")
    first = watch.poll_objects()  # one event or several, as the listings fell: each file once
    assert sorted(e["uri"] for e in first) == [prefix + "a.csv", prefix + "b.parquet"]

    put_text(tmp_path, prefix + "a.csv", "content of a.csv")  # the same bytes: no event
    assert watch.poll() == []

    put_text(tmp_path, prefix + "a.csv", "changed")  # a new version: one event, a new run key
    changed = watch.poll_objects()
    assert [e["uri"] for e in changed] == [prefix + "a.csv"]
    assert changed[0]["run_key"] not in {e["run_key"] for e in first}


def test_files_found_by_one_listing_fire_one_event_naming_them_all(
    prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One event per listing: Airflow would leave events landing together for a later run.

    The five files are in the store before the trigger starts, so its first listing finds all of
    them, however slow the machine.
    """
    for i in range(5):
        put_text(tmp_path, f"{prefix}{i}.csv", f"file {i}")
    watch = _Watch(prefix, monkeypatch)
    try:
        events = watch.poll()
    finally:
        watch.close()
    assert len(events) == 1
    assert sorted(o["uri"] for o in watch_objects(events)) == [f"{prefix}{i}.csv" for i in range(5)]


def test_five_files_landing_while_watched_each_fire_once_with_distinct_run_keys(
    prefix: str, watch: _Watch, tmp_path: Path
) -> None:
    """Uploads racing the listings split across events as the timing falls; each file is named
    exactly once in all, with its own run key, and nothing fires again afterwards."""
    for i in range(5):
        put_text(tmp_path, f"{prefix}{i}.csv", f"file {i}")
    objects = watch.poll_objects()
    assert sorted(o["uri"] for o in objects) == [f"{prefix}{i}.csv" for i in range(5)]  # each exactly once
    assert len({o["run_key"] for o in objects}) == 5
    assert watch.poll() == []


def test_trigger_reports_a_missing_bucket_and_keeps_watching(
    live_env, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = _Watch("s3://no-such-bucket-here/training/", monkeypatch)
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


def test_dag_file_parse_is_cheap() -> None:
    """A property, not a timing: parsing the watcher's DAG file imports no heavy library."""
    assert parse_imports(DAGS_FOLDER / "ml_new_data.py", ML_TRAIN_ON_NEW_DATA="true") == []

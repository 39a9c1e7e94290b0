"""The fault phase's incomplete-object check (tests/e2e/in_image/chaos.py, `reader_hazards`) can fail.

Against the real S3 server: what steps publish (a folder with `_SUCCESS` last, a split with its
`manifest.json` last) passes; a marker with nothing beside it, a file written after its folder's
marker, and a manifest naming a split that is missing each count as one hazard.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DEADLINE_S = 120.0  # bounds a hang; the loop below waits for the store's clock, not for a speed


@pytest.fixture
def prefixes(live_env, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Results and work prefixes of this test's own (the check reads both)."""
    from ml.core.config import reset_settings

    run = uuid.uuid4().hex[:8]
    results, work = f"s3://datasets/results-{run}", f"s3://datasets/work-{run}"
    monkeypatch.setenv("ML_RESULTS_URI", results)
    monkeypatch.setenv("ML_WORK_URI", work)
    reset_settings()
    return results, work


def put(tmp_path: Path, uri: str, text: str) -> None:
    from ml.core import storage

    path = tmp_path / uuid.uuid4().hex
    path.write_text(text)
    storage.publish(path, uri)


def last_modified(uri: str):
    from ml.core.config import get_settings
    from ml.core.storage import _client, split_s3

    bucket, key = split_s3(uri)
    return _client(get_settings()).stat_object(bucket, key).last_modified


def put_after(tmp_path: Path, uri: str, text: str, marker_uri: str) -> None:
    """Write `uri` until the store dates it after `marker_uri` (its clock may count whole seconds)."""
    deadline = time.monotonic() + DEADLINE_S
    put(tmp_path, uri, text)
    while last_modified(uri) <= last_modified(marker_uri):
        assert time.monotonic() < deadline, "the store's clock did not advance"
        time.sleep(0.2)
        put(tmp_path, uri, text)


def test_whole_outputs_pass_and_each_kind_of_incomplete_one_is_found(prefixes, tmp_path: Path) -> None:
    from ml.core import storage
    from tests.e2e.in_image.chaos import reader_hazards

    results, work = prefixes
    since_ms = int(time.time() * 1000) - 60_000
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    storage.publish_dir(model, f"{work}/run-1/model")
    for split in ("train", "validation", "test"):
        put(tmp_path, f"{work}/run-1/data/{split}.parquet", split)
    put(tmp_path, f"{work}/run-1/data/manifest.json", json.dumps({"rows": {"train": 1, "validation": 1, "test": 1}}))
    put(tmp_path, f"{results}/day/predictions.parquet", "p")
    seen, bad = reader_hazards(since_ms)
    assert (seen, bad) == (7, [])

    put(tmp_path, f"{work}/run-2/empty/_SUCCESS", "")
    put(tmp_path, f"{work}/run-2/data/train.parquet", "train")
    put(tmp_path, f"{work}/run-2/data/manifest.json", json.dumps({"rows": {"train": 1, "test": 1}}))
    put_after(tmp_path, f"{work}/run-1/model/config.json", "{} changed", f"{work}/run-1/model/_SUCCESS")
    seen, bad = reader_hazards(since_ms)
    assert seen == 10
    assert len(bad) == 3, bad
    assert any("run-2/empty/_SUCCESS: marks an empty folder" in b for b in bad)
    assert any("run-1/model/_SUCCESS: marks 1 file(s) written after it" in b for b in bad)
    assert any("run-2/data/manifest.json" in b and "run-2/data/test.parquet" in b for b in bad)

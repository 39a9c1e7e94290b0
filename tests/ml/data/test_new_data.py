"""ml.data.new_data: which objects under the prefix are training files, and their run keys (real S3 server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from services import put_text

from ml.core.config import load_settings
from ml.core.errors import BadInputError
from ml.data.new_data import NewObject, is_training_file, run_key, training_objects, unseen


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("training/reviews.csv", True),
        ("training/2026/01/part.parquet", True),
        ("training/x.JSONL", True),
        ("training/x.tsv", True),
        ("training/", False),
        ("training/_SUCCESS", False),
        ("training/.keep", False),
        ("training/_tmp.csv", False),
        ("training/readme.txt", False),
        ("training/data.csv.gz", False),
        ("training/noext", False),
    ],
)
def test_training_files_are_the_loader_formats_without_markers(key: str, expected: bool) -> None:
    assert is_training_file(key) is expected


def test_run_key_is_short_stable_and_changes_with_key_or_etag() -> None:
    key = run_key("training/a.csv", "abc")
    assert key == run_key("training/a.csv", "abc")
    assert len(key) == 20 and set(key) <= set("0123456789abcdef")
    assert key != run_key("training/a.csv", "abd")
    assert key != run_key("training/b.csv", "abc")
    obj = NewObject(uri="s3://datasets/training/a.csv", key="training/a.csv", etag="abc", run_key=key)
    assert obj.run_id == f"new_data__{key}"
    assert NewObject.from_payload(obj.payload()) == obj


def test_prefix_setting_must_be_an_s3_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_NEW_DATA_PREFIX", "/data/training")
    with pytest.raises(BadInputError, match="ML_NEW_DATA_PREFIX"):
        load_settings()
    monkeypatch.setenv("ML_NEW_DATA_PREFIX", "s3://datasets/training")
    assert load_settings().new_data_prefix == "s3://datasets/training/"


def test_listing_finds_training_files_once_per_version(prefix: str, tmp_path: Path) -> None:
    for name in ("a.csv", "b.jsonl", "_SUCCESS", "notes.txt", "sub/c.parquet"):
        put_text(tmp_path, prefix + name, f"content of {name}")
    put_text(tmp_path, prefix.rstrip("/") + "-sibling/d.csv", "not under the prefix")

    first = training_objects()
    assert [o.uri for o in first] == [prefix + "a.csv", prefix + "b.jsonl", prefix + "sub/c.parquet"]
    assert all(o.etag and o.run_key == run_key(o.key, o.etag) for o in first)

    put_text(tmp_path, prefix + "a.csv", "content of a.csv")  # the same bytes again: the same version
    again = training_objects()
    assert again == first
    assert unseen(again, {o.run_key for o in first}) == []

    put_text(tmp_path, prefix + "a.csv", "changed content")  # a changed file is a new version
    changed = training_objects()
    fresh = unseen(changed, {o.run_key for o in first})
    assert [o.uri for o in fresh] == [prefix + "a.csv"]


def test_empty_prefix_lists_nothing_and_a_missing_bucket_is_bad_input(prefix: str, monkeypatch) -> None:
    assert training_objects() == []
    with pytest.raises(BadInputError, match="does not exist"):
        training_objects("s3://no-such-bucket-here/training/")


def test_one_event_carries_every_object_a_listing_found() -> None:
    from ml.data.new_data import batch_payload, objects_of

    objects = [NewObject(f"s3://d/t/{i}.csv", f"t/{i}.csv", f"e{i}", run_key(f"t/{i}.csv", f"e{i}")) for i in range(5)]
    assert objects_of(batch_payload(objects)) == objects
    assert objects_of(objects[2].payload()) == [objects[2]]  # a single object's payload (older events)
    with pytest.raises(KeyError):
        objects_of({"uri": "s3://d/t/x.csv"})  # a malformed payload is an error, never an empty run

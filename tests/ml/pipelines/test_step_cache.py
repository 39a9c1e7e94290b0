"""The step cache (ml/pipelines/cache.py) and resume of embedded runs: properties, on real files and SQLite MLflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml.cli import main
from ml.core.config import get_settings, reset_settings
from ml.core.errors import BadInputError
from ml.pipelines import cache, cache_key, embedded
from ml.pipelines.spec import pipeline, step_named

ROOT = Path(__file__).resolve().parents[3]
QUICK = {"epochs": 1, "max_train_samples": 60}  # a short training: these tests are about the steps around it
TRAIN_PARAMS = {"epochs": 3, "learning_rate": 0.002, "batch_size": 8, "seed": 7, "max_train_samples": 100}


def _key(step: str, **kwargs: object) -> str:
    return cache_key.key(step_named(step), kwargs)


def _tree_bytes(uri: str) -> dict[str, bytes]:
    root = Path(uri)
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_data_key_changes_with_one_byte_and_only_with_content(local_env: Path, demo_csv: Path) -> None:
    base = _key("load-training-data", dataset_uri=str(demo_csv))
    assert _key("load-training-data", dataset_uri=str(demo_csv)) == base  # deterministic
    same = local_env / "same.csv"
    shutil.copyfile(demo_csv, same)
    assert _key("load-training-data", dataset_uri=str(same)) != base  # the dataset's name is lineage: part of the key
    data = bytearray(demo_csv.read_bytes())
    data[-2] = ord("x") if data[-2] != ord("x") else ord("y")
    demo_csv.write_bytes(bytes(data))
    assert _key("load-training-data", dataset_uri=str(demo_csv)) != base


def test_train_key_changes_with_each_parameter_and_the_base_model(local_env: Path, tmp_path: Path) -> None:
    data = tmp_path / "run-a" / "data"
    data.mkdir(parents=True)
    (data / "train.parquet").write_bytes(b"split")
    base = _key("train", data_uri=str(data), **TRAIN_PARAMS)
    keys = {base}
    for name, value in {"epochs": 4, "learning_rate": 0.003, "batch_size": 16, "seed": 8, "max_train_samples": 99}.items():
        changed = _key("train", data_uri=str(data), **{**TRAIN_PARAMS, name: value})
        assert changed not in keys, name
        keys.add(changed)
    # the same content under another run's folder is the same input (outputs are addressed by content)
    other = tmp_path / "run-b" / "data"
    shutil.copytree(data, other)
    assert _key("train", data_uri=str(other), **TRAIN_PARAMS) == base
    (other / "train.parquet").write_bytes(b"splat")
    assert _key("train", data_uri=str(other), **TRAIN_PARAMS) != base
    # the base model: a folder by its content
    model = tmp_path / "base"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with_folder = _key("train", data_uri=str(data), base_model=str(model), **TRAIN_PARAMS)
    assert with_folder not in keys
    (model / "config.json").write_text('{"hidden": 1}')
    assert _key("train", data_uri=str(data), base_model=str(model), **TRAIN_PARAMS) != with_folder


def test_an_unset_parameter_is_its_default_and_run_facts_are_not_part_of_the_key(local_env: Path,
                                                                               demo_csv: Path) -> None:
    data = str(demo_csv.parent)
    assert _key("train", data_uri=data) == _key("train", data_uri=data, epochs=2)  # ML_EPOCHS=2 (local_env)
    assert _key("train", data_uri=data) != _key("train", data_uri=data, epochs=3)
    step = step_named("load-training-data")
    assert cache_key.key(step, {"dataset_uri": str(demo_csv)}, "airflow") == \
        cache_key.key(step, {"dataset_uri": str(demo_csv)}, "dagster")  # the same decision on both
    # the CLI (an Airflow task) passes every option, at its default when unset; Dagster leaves it out
    assert _key("load-training-data", dataset_uri=str(demo_csv), new_task=False, model_name=None) == \
        _key("load-training-data", dataset_uri=str(demo_csv))
    assert _key("load-training-data", dataset_uri=str(demo_csv), new_task=True) != \
        _key("load-training-data", dataset_uri=str(demo_csv))


def test_a_setting_that_shapes_outputs_changes_the_key_and_one_that_does_not_does_not(
        local_env: Path, demo_csv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _key("load-training-data", dataset_uri=str(demo_csv))
    monkeypatch.setenv("ML_RETRY_ATTEMPTS", "4")
    monkeypatch.setenv("ML_GIT_SHA", "abc")
    reset_settings()
    assert _key("load-training-data", dataset_uri=str(demo_csv)) == base
    monkeypatch.setenv("ML_TEST_FRACTION", "0.2")
    reset_settings()
    assert _key("load-training-data", dataset_uri=str(demo_csv)) != base


def _key_in(package_root: Path, dataset: Path, home: Path) -> str:
    code = ("from ml.pipelines import cache_key; from ml.pipelines.spec import step_named; "
            f"print(cache_key.key(step_named('load-training-data'), {{'dataset_uri': {str(dataset)!r}}}))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML_")} | {"PYTHONPATH": str(package_root),
                                                                               "ML_HOME": str(home)}
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_the_code_is_part_of_the_key(local_env: Path, demo_csv: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "ml", copy / "ml", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / ".ml"
    unchanged = _key_in(copy, demo_csv, home)
    assert unchanged == _key_in(ROOT, demo_csv, home)  # the same source, the same key
    with open(copy / "ml" / "steps" / "training.py", "a", encoding="utf-8") as handle:
        handle.write("\n# a changed line\n")
    assert _key_in(copy, demo_csv, home) != unchanged


def test_http_inputs_have_no_checksum_so_their_step_runs_uncached() -> None:
    with pytest.raises(cache_key.Uncacheable):
        cache_key.content("https://example.org/data.csv")


def test_second_training_is_all_hits_byte_identical_and_registers_no_new_version(local_env: Path,
                                                                                   demo_csv: Path) -> None:
    first = embedded.run("training", {"dataset_uri": str(demo_csv), **QUICK})
    second = embedded.run("training", {"dataset_uri": str(demo_csv), **QUICK})
    cacheable = [s.name for s in pipeline("training").steps if s.cacheable]
    assert cacheable == ["load-training-data", "train", "evaluate"]
    assert [first["results"][s]["cache"] for s in cacheable] == ["miss"] * 3
    assert second["summary"]["cached_steps"] == cacheable
    for step in cacheable:
        hit, miss = second["results"][step], first["results"][step]
        assert hit["cache_key"] == miss["cache_key"] and hit["cache_source_run"] == first["run_id"]
        strip = {k: v for k, v in miss.items() if not k.startswith("cache")}
        assert {k: v for k, v in hit.items() if not k.startswith("cache")} == strip
    for step, field in (("load-training-data", "data_uri"), ("train", "model_uri")):
        uri = second["results"][step][field]
        assert uri == first["results"][step][field]  # the outputs the miss published, reused in place
        entry = json.loads(Path(cache.entry_uri(get_settings(), step, second["results"][step]["cache_key"])).read_text())
        assert entry["outputs"][uri] == cache_key.content(uri)  # byte for byte what the miss published
    assert [second["results"][s]["cache"] for s in ("register", "promote")] == ["off", "off"]
    assert second["summary"]["model_version"] == first["summary"]["model_version"] == "1"
    assert second["summary"]["champion_version"] == "1"


def test_off_records_nothing_refresh_replaces_and_a_removed_output_is_a_miss(local_env: Path, demo_csv: Path) -> None:
    from ml import steps

    step = step_named("load-training-data")
    run = step.function()
    off = run(run_id="off", dataset_uri=str(demo_csv), cache="off")
    assert (off["cache"], off["cache_key"]) == ("off", None)
    assert not (local_env / ".ml" / "work" / "cache").exists()
    miss = run(run_id="a", dataset_uri=str(demo_csv))
    hit = run(run_id="b", dataset_uri=str(demo_csv))
    assert (miss["cache"], hit["cache"], hit["cache_source_run"]) == ("miss", "hit", "a")
    assert _tree_bytes(hit["data_uri"]) == _tree_bytes(miss["data_uri"])  # the same published bytes
    fresh = run(run_id="c", dataset_uri=str(demo_csv), cache="refresh")
    assert fresh["cache"] == "miss" and fresh["data_uri"] != miss["data_uri"]
    assert run(run_id="d", dataset_uri=str(demo_csv))["cache_source_run"] == "c"  # refresh replaced the entry
    shutil.rmtree(fresh["data_uri"])  # its outputs are gone: the entry is stale, never a wrong hit
    again = run(run_id="e", dataset_uri=str(demo_csv))
    assert again["cache"] == "miss" and Path(again["data_uri"], "manifest.json").is_file()
    direct = steps.load_training_data(run_id="f", dataset_uri=str(demo_csv))
    assert "cache" not in direct  # the step itself knows no cache
    with pytest.raises(BadInputError, match="cache='sometimes'"):
        run(run_id="g", dataset_uri=str(demo_csv), cache="sometimes")


def test_two_concurrent_identical_runs_leave_one_valid_entry(local_env: Path, demo_csv: Path) -> None:
    # the SQLite registry exists first (the task check reads it): two processes creating it at once is not the point
    step_named("load-training-data").function()(run_id="setup", dataset_uri=str(demo_csv), cache="off")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    argv = [sys.executable, "-m", "ml", "load-training-data", "--dataset-uri", str(demo_csv)]
    procs = [subprocess.Popen([*argv, "--run-id", run], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True) for run in ("racer-a", "racer-b")]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    entries = list((local_env / ".ml" / "work" / "cache" / "load-training-data").iterdir())
    assert [e.suffix for e in entries] == [".json"]  # one entry, no temporary file left behind
    entry = json.loads(entries[0].read_text())
    assert entry["run_id"] in {"racer-a", "racer-b"} and entry["key"] == results[0]["cache_key"]
    third = step_named("load-training-data").function()(run_id="third", dataset_uri=str(demo_csv))
    assert third["cache"] == "hit" and third["cache_source_run"] == entry["run_id"]


def test_resume_runs_only_the_failed_step_and_what_follows(local_env: Path, demo_csv: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CACHE", "off")  # resume reuses the run's own finished steps, cache or not
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "1")  # register refuses an imperfect model: the run fails there
    reset_settings()
    run_id = "cli-training-resume"
    with pytest.raises(BadInputError, match="not registered"):
        embedded.run("training", {"dataset_uri": str(demo_csv), "epochs": 1, "max_train_samples": 12}, run_id=run_id)
    record = json.loads(Path(embedded.record_uri(run_id)).read_text())
    assert record["failed_step"] == "register" and set(record["results"]) == {"load-training-data", "train", "evaluate"}
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0")
    reset_settings()
    assert main(["resume", "--run", run_id]) == 0
    resumed = json.loads(Path(embedded.record_uri(run_id)).read_text())
    assert resumed["state"] == "success"
    tries = {step: info["tries"] for step, info in resumed["steps"].items()}
    assert tries == {"load-training-data": 1, "train": 1, "evaluate": 1, "register": 2, "promote": 1}
    assert resumed["results"]["train"] == record["results"]["train"]  # train was not run again
    assert resumed["results"]["register"]["version"] == "1"
    with pytest.raises(BadInputError, match="succeeded already"):
        embedded.resume(run_id)
    with pytest.raises(BadInputError, match="no embedded run"):
        embedded.resume("cli-training-nothing")


def test_backfill_rerun_hits_for_unchanged_days_and_misses_for_a_changed_one(local_env: Path, demo_csv: Path) -> None:
    embedded.run("training", {"dataset_uri": str(demo_csv), **QUICK})
    days = ("2026-11-01", "2026-11-02")
    inputs = local_env / ".ml" / "inference"
    inputs.mkdir(parents=True)
    for day in days:
        (inputs / f"{day}.csv").write_text(f"text\nThe tent is excellent ({day}).\nThe app is useless.\n")
    first = {day: embedded.run("inference", {"partition_date": day}) for day in days}
    (inputs / "2026-11-02.csv").write_text("text\nThe app is useless. Avoid it.\n")
    second = {day: embedded.run("inference", {"partition_date": day}) for day in days}
    assert second["2026-11-01"]["summary"]["cached_steps"] == ["load-inference-data", "predict"]
    assert second["2026-11-02"]["summary"]["cached_steps"] == []
    hit = second["2026-11-01"]["results"]["predict"]
    assert hit["cache_source_run"] == first["2026-11-01"]["run_id"]
    assert second["2026-11-01"]["summary"]["rows"] == 2 and second["2026-11-02"]["summary"]["rows"] == 1


def test_cache_list_and_prune(local_env: Path, demo_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = step_named("load-training-data").function()
    kept = run(run_id="a", dataset_uri=str(demo_csv))
    assert main(["cache", "list"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [(e["step"], e["key"], e["run_id"]) for e in listed["entries"]] == [
        ("load-training-data", kept["cache_key"], "a")]
    assert main(["cache", "prune"]) == 0  # younger than ML_CACHE_RETENTION_DAYS: kept
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["removed"] == []
    assert main(["cache", "prune", "--older-than-days", "0"]) == 0
    pruned = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [e["key"] for e in pruned["removed"]] == [kept["cache_key"]] and pruned["kept"] == 0
    assert run(run_id="b", dataset_uri=str(demo_csv))["cache"] == "miss"

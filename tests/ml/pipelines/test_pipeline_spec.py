"""The pipeline spec (ml/pipelines/spec.py) is consistent, printable, and the layout keeps it on top.

The orchestrators' graphs are compared with the spec in tests/airflow/test_airflow_dags.py and
tests/dagster/test_dagster_definitions.py; the names it writes appear nowhere else
(tests/ml/launch/test_launch_policy.py).
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml.pipelines.params import catalogue
from ml.pipelines.spec import all_steps, pipeline, pipelines

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["training", "inference", "review"])
def test_every_step_calls_a_function_that_takes_its_keywords(name: str) -> None:
    spec = pipeline(name)
    for step in spec.steps:
        accepted = set(inspect.signature(step.function()).parameters)
        wanted = {"run_id", "orchestrator", *step.inputs, *(p.option for p in step.run_params), *step.context}
        assert wanted <= accepted, (step.name, wanted - accepted)


@pytest.mark.parametrize("name", ["training", "inference", "review"])
def test_inputs_come_from_earlier_steps_and_names_are_unique(name: str) -> None:
    spec = pipeline(name)
    seen: list[str] = []
    for step in spec.steps:
        assert set(step.upstream) <= set(seen), f"{step.name} reads a step that runs later: {step.upstream}"
        assert set(step.params) <= set(catalogue()), step.name
        assert sum(bool(x) for x in (step.dagster_asset, step.dagster_check, step.dagster_op)) == 1, step.name
        if step.dagster_check:
            assert step.checks in seen and spec.step(step.checks).dagster_asset, step.name
        seen.append(step.name)
    assert len({s.airflow_task for s in spec.steps}) == len(spec.steps)
    assert all(ref.step in seen for ref in spec.summary.values())
    names = [p.name for p in spec.params()]
    assert len(names) == len(set(names)), "a run parameter goes to one step"


def test_every_step_name_is_unique_across_pipelines_and_lookups_find_them() -> None:
    steps = list(all_steps())
    assert len({s.name for s in steps}) == len(steps)
    for p in pipelines().values():
        assert pipeline(p.command) is p
        for step in p.steps:
            assert p.find(step.airflow_task) is step
            assert p.find(step.dagster_name) is step
            if step.dagster_asset:
                assert p.find(f"daily/{step.dagster_asset}") is step and p.find(f"daily__{step.dagster_asset}") is step
    assert pipeline("inference").find("predictions_input_drift").name == "check-drift"  # a check's step key
    assert pipeline("training").find("awaiting_approval") is None  # an approval task is no ml step


def test_edges_drop_only_what_a_longer_path_implies() -> None:
    training = pipeline("training")
    assert ("load-training-data", "evaluate") not in training.edges()  # evaluate reads it, but runs after train
    assert training.ancestors("evaluate") == {"load-training-data", "train"}
    inference = pipeline("inference")
    assert set(inference.edges()) >= {("load-inference-data", "predict"), ("load-model", "predict"),
                                      ("check-drift", "save-predictions")}


def test_pipelines_command_prints_tables_and_json_for_tools() -> None:
    done = subprocess.run([sys.executable, "-m", "ml", "pipelines", "--json"], capture_output=True, text=True,
                          check=True, cwd=REPO)
    table = done.stderr  # for people; the JSON line is for tools (always when piped, on a terminal with --json)
    assert "training:" in table and "train_model" in table and "check input_drift" in table and "{" not in table
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    training = doc["pipelines"]["training"]
    assert (training["airflow_dag"], training["dagster_job"]) == ("ml_training", "training_job")
    train = next(s for s in training["steps"] if s["step"] == "train")
    assert train["after"] == ["load-training-data"]
    assert (train["airflow_task"], train["dagster_asset"]) == ("train_model", "trained_model")
    drift = next(s for s in doc["pipelines"]["inference"]["steps"] if s["step"] == "check-drift")
    assert drift["dagster_check"] == "input_drift" and "dagster_asset" not in drift


CORE = ("core", "data", "model", "training", "inference", "lifecycle", "monitoring")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_the_ml_core_imports_neither_the_pipelines_nor_the_launch_policy() -> None:
    """Layers: core <- data, model <- training, inference <- lifecycle, monitoring <- steps <- pipelines, launch."""
    above = ("ml.steps", "ml.pipelines", "ml.launch", "ml.cli")
    for package in CORE:
        for path in (REPO / "ml" / package).rglob("*.py"):
            bad = {m for m in _imports(path) if m.startswith(above)}
            assert not bad, f"{path.relative_to(REPO)} imports {bad}"
    for path in (REPO / "ml" / "core").rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith("ml.") and not m.startswith("ml.core")}
        assert not bad, f"{path.relative_to(REPO)} (core) imports {bad}"


def test_importing_the_spec_imports_no_step_module() -> None:
    """DAG files and the Dagster code location read the spec; the steps (and torch) load only when run."""
    code = ("import sys; import ml.pipelines.spec, ml.launch.timeouts; "
            "print(sorted(m for m in sys.modules if m.startswith(('ml.steps', 'torch', 'mlflow', 'ml.lifecycle'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"

"""Issue 17, items 2-3: the README's embedded-mode command blocks run as written, so they cannot rot.

Each block marked `<!-- readme-test: NAME -->` runs with bash in a copy of this checkout, in a clean
environment: no ML_/AIRFLOW_/DAGSTER_ variables from the developer; the copy's `.venv` is a view
of the test's venv (links, plus a fresh `.installed`), so `make setup` finds it installed and
nothing is ever written into the shared venv; `PYTHONPATH` is the copy, as an editable install of
it would be; only size knobs are set (few rows, one epoch) so each run takes a minute, not ten.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- readme-test: (?P<name>[\w-]+) -->\s*```bash\n(?P<body>.*?)```", re.S)
SMALL_RUN = {"DEMO_ROWS": "90", "ML_EPOCHS": "1", "ML_MIN_TRAIN_STEPS": "0", "ML_MIN_TEST_MACRO_F1": "0"}


def readme_blocks() -> dict[str, str]:
    """The marked command blocks of README.md, by marker name."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m["name"]: m["body"] for m in MARKER.finditer(text)}


def checkout_copy(target: Path) -> Path:
    """The files a fresh clone of this checkout would have (tracked plus new, not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    return target


def venv_view(repo: Path) -> Path:
    """`repo/.venv`: the test's venv through links, with its own `.installed` newer than what it depends on.

    Why a view, not the venv itself: `make setup` reinstalls when pyproject.toml is newer than
    `.installed`, and must never do that into the venv other checkouts use.
    """
    shared = Path(sys.prefix)
    assert shared != Path(sys.base_prefix), "run the tests from a venv"
    view = repo / ".venv"
    view.mkdir()
    for name in ("bin", "lib", "lib64", "include", "pyvenv.cfg"):
        if (shared / name).exists():
            (view / name).symlink_to(shared / name)
    (view / ".installed").touch()
    dry = subprocess.run(["make", "-q", "setup"], cwd=repo, capture_output=True, check=False)
    assert dry.returncode == 0, "make setup would install into the shared venv"
    return view


def clean_env(repo: Path, home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("ML_", "MLFLOW_", "AIRFLOW", "DAGSTER_", "PYTHON", "VIRTUAL_ENV", "MAKE"))}
    return {**keep, "HOME": str(home), "PYTHONPATH": str(repo), **SMALL_RUN}


def registered_versions(ml_home: Path) -> list[str]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{ml_home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # other tests may have set a global registry URI
    return [str(v.version) for v in client.search_model_versions("name='text-classifier'")]


def test_readme_marks_the_three_embedded_blocks() -> None:
    blocks = readme_blocks()
    assert set(blocks) == {"embedded", "airflow", "dagster"}
    assert "make local-airflow" in blocks["airflow"] and "make local-dagster" in blocks["dagster"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["embedded", "airflow", "dagster"])
def test_readme_block_runs_as_written(tmp_path: Path, name: str) -> None:
    if shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs make and a git checkout")
    repo = checkout_copy(tmp_path / "clone")
    venv_view(repo)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_blocks()[name]], cwd=repo,
                          env=clean_env(repo, tmp_path / "home"), capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert registered_versions(repo / ".ml") == ["1"], output[-3000:]
    if name == "embedded":
        assert "alias champion -> version 1" in done.stdout and "predictions by text-classifier" in done.stdout
    if name == "airflow":
        assert (repo / ".airflow" / "airflow.db").is_file()
        assert "DagRun Finished" in output and "state=success" in output, output[-3000:]
    if name == "dagster":
        assert (repo / ".dagster" / "dagster.yaml").is_file() and "RUN_SUCCESS" in output

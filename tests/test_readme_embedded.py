"""Issue 17, items 2-3, issue 26: the README's embedded-mode command blocks run as written, so they cannot rot.

Each block marked `<!-- readme-test: NAME -->` runs with bash in a copy of this checkout, in a clean
environment: no ML_/AIRFLOW_/DAGSTER_ variables from the developer; the copy's `.venv` is a view
of the test's venv (links, plus a fresh `.installed`), so `make setup` finds it installed and
nothing is ever written into the shared venv; `PYTHONPATH` is the copy, as an editable install of
it would be; only size knobs are set (few rows, one epoch) so each run takes a minute, not ten.
The own-data block gets the user's files (`tickets.csv`, `new-tickets.csv`) in the copy first.

Besides success, each block's output is what a new user should see (issue 26, items 1 and 6): the
summary `make train` prints, and none of the noise the runs used to print (echoed one-liners,
library warnings, Dagster's DEBUG events, a second timestamp on every ml line under Airflow).
"""

from __future__ import annotations

import csv
import os
import random
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


def registered_versions(ml_home: Path, model_name: str = "text-classifier") -> list[str]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{ml_home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # other tests may have set a global registry URI
    return [str(v.version) for v in client.search_model_versions(f"name='{model_name}'")]


TEAMS = {"billing": ["invoice", "refund", "charge", "payment"], "shipping": ["parcel", "courier", "delivery", "tracking"],
         "accounts": ["password", "login", "username", "profile"]}


def own_files(repo: Path, rows: int = 300) -> None:
    """The own-data block's input: 300 tickets (`body`, `team`) and 20 new ones (`body`), as a user has them."""
    rng = random.Random(26)
    filler = ["my", "the", "is", "not", "please", "help", "since", "yesterday", "again", "still", "with", "order"]

    def ticket(team: str) -> str:
        words = rng.choices(filler, k=rng.randint(6, 14))
        words.insert(rng.randrange(len(words)), rng.choice(TEAMS[team]))
        return " ".join(words)

    with open(repo / "tickets.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket_id", "body", "team"])
        writer.writerows((f"T{i}", ticket(team), team) for i, team in enumerate(list(TEAMS) * (rows // len(TEAMS))))
    with open(repo / "new-tickets.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body"])
        writer.writerows([ticket(team)] for team in list(TEAMS) * 7)


#: What no block's output may contain (issue 26, item 6), and why.
NOISE = {
    "python -c": "make demo echoed its one-liners",
    "graphviz": "airflow dags test imported graphviz for a warning",
    "GitWildMatchPattern": "pathspec's deprecation, printed by Airflow's DAG parsing",
    "SupersessionWarning": "dagster asset materialize is superseded",
    " - DEBUG - ": "Dagster's engine events at DEBUG",
}
#: An ml log line with its own timestamp inside Airflow's (which stamps every task log line).
DOUBLE_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z .*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \w+ ml\.")


def test_readme_marks_the_four_embedded_blocks() -> None:
    blocks = readme_blocks()
    assert set(blocks) == {"embedded", "own-data", "airflow", "dagster"}
    assert "make local-airflow" in blocks["airflow"] and "make local-dagster" in blocks["dagster"]


def test_readme_says_to_activate_the_venv_before_python_m_ml() -> None:
    """Issue 26, item 1: the first `python -m ml` a reader meets comes after the venv's activation."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    embedded = text[text.index("## Embedded mode"):]
    assert embedded.index(". .venv/bin/activate") < embedded.index("python -m ml ")
    assert readme_blocks()["own-data"].lstrip().startswith(". .venv/bin/activate")


def test_readme_cli_example_starts_with_what_works_in_embedded_mode() -> None:
    """Issue 26, item 2: the CLI section's first example needs no object store and no Hub."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The steps and the CLI"):text.index("## Your own data and model")]
    first = next(line for line in section.splitlines() if line.startswith("python -m ml run-training"))
    assert "s3://" not in first and "--base-model" not in first, first


def test_readme_gives_the_install_size_and_time() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("What `make setup` costs"):text.index("`make demo` ends each run")]
    assert re.search(r"\d(\.\d)? GB", setup) and re.search(r"\d+ (s|minutes)", setup), setup


@pytest.mark.slow
@pytest.mark.parametrize("name", ["embedded", "own-data", "airflow", "dagster"])
def test_readme_block_runs_as_written(tmp_path: Path, name: str) -> None:
    if shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs make and a git checkout")
    repo = checkout_copy(tmp_path / "clone")
    venv_view(repo)
    if name == "own-data":
        own_files(repo)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_blocks()[name]], cwd=repo,
                          env=clean_env(repo, tmp_path / "home"), capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    model = "ticket-router" if name == "own-data" else "text-classifier"
    assert registered_versions(repo / ".ml", model) == ["1"], output[-3000:]
    assert {noise: why for noise, why in NOISE.items() if noise in output} == {}, output[-6000:]
    assert DOUBLE_TIMESTAMP.search(output) is None, DOUBLE_TIMESTAMP.search(output)
    runner = {"airflow": "airflow", "dagster": "dagster"}.get(name, "cli")  # an embedded run is the CLI's (ML_ORCHESTRATOR)
    assert re.search(rf"{runner} train run \S+: SUCCEEDED", output), output[-3000:]
    assert "  model_version: 1" in output and "  champion_version: 1" in output, output[-3000:]
    if name in ("embedded", "own-data"):
        assert re.search(r"cli infer run \S+: SUCCEEDED", output) and "  predictions_uri: " in output
    if name == "own-data":
        assert "ticket-router" in done.stderr and "billing" in done.stderr, "the versions table names model and labels"
    if name == "airflow":
        assert (repo / ".airflow" / "airflow.db").is_file()
    if name == "dagster":
        assert (repo / ".dagster" / "dagster.yaml").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("orchestrator", ["airflow", "dagster"])
def test_a_failed_local_run_ends_with_the_steps_error_line(tmp_path: Path, orchestrator: str) -> None:
    """Issue 26, item 6: a local run that fails ends like make train's: FAILED and the step's one-line reason."""
    if shutil.which("make") is None or not (ROOT / ".git").exists():
        pytest.skip("needs make and a git checkout")
    repo = checkout_copy(tmp_path / "clone")
    venv_view(repo)
    (repo / "one-class.csv").write_text("text,label\nsame thing,x\nother thing,x\nthird thing,x\n", encoding="utf-8")
    done = subprocess.run(["make", f"local-{orchestrator}", "DATASET=one-class.csv"], cwd=repo,
                          env=clean_env(repo, tmp_path / "home"), capture_output=True, text=True, timeout=900, check=False)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-3000:]
    assert re.search(rf"{orchestrator} train run \S+: FAILED", output), output[-3000:]
    [reason] = [line for line in output.splitlines() if line.startswith("  reason: ")]
    assert "error: " in reason and "a classifier needs at least two classes" in reason, reason

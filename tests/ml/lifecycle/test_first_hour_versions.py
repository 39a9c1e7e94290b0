"""Issue 26, items 5 and 9: the commands people read, on a terminal and in a pipe; `versions`; local inference.

On a terminal `history`, `versions` and `settings` print a table and no JSON line (`--json` asks
for it); piped, the JSON line is the last stdout line as for every step. `versions` lists each
version with its score, aliases, review state and task. The Makefile has `make versions` and a
local inference target beside `local-airflow`/`local-dagster`.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ml.core.config import get_settings
from ml.lifecycle import champion
from tests.ml.cli.test_first_hour_logs import step_env
from tests.ml.cli_helpers import run_cli
from tests.ml.lifecycle.test_registry import STARS, _new_version

ROOT = Path(__file__).resolve().parents[3]


def on_terminal(home: Path, *argv: str) -> tuple[int, str, str]:
    """`python -m ml *argv` with stdout a real terminal (a pty), as a person runs it: (exit code, stdout, stderr)."""
    main, child = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**step_env(home), "ML_HOME": os.environ["ML_HOME"], "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "ml", *argv], cwd=home, env=env, stdin=subprocess.DEVNULL,
                          stdout=child, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    os.close(child)
    reader.join(timeout=30)
    os.close(main)
    return done.returncode, b"".join(chunks).decode(errors="replace"), done.stderr


@pytest.fixture
def registry(local_env: Path) -> dict[str, str]:
    """An embedded registry: v1 champion, v2 rejected, v3 of another task."""
    settings = get_settings()
    v1 = _new_version(0.81)
    champion.promote(v1, settings)
    v2 = _new_version(0.74)
    champion.reject(settings, v2, "leaked labels", "cli:test")
    v3 = _new_version(0.93, STARS)
    champion.promote(v3, settings)
    return {"champion": v1, "rejected": v2, "other_task": v3}


def test_versions_lists_score_aliases_review_and_task(registry: dict[str, str], capsys) -> None:
    code, out, err = run_cli(capsys, "versions")
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    rows = {row["version"]: row for row in result["versions"]}
    assert list(rows) == sorted(rows, key=int, reverse=True), "newest first"
    assert rows[registry["champion"]]["aliases"] == ["champion"] and rows[registry["champion"]]["score"] == 0.81
    assert rows[registry["rejected"]]["review"] == "rejected"
    assert rows[registry["other_task"]]["labels"] == ["1", "3", "5"] and rows[registry["other_task"]]["same_task"] is False
    assert rows[registry["other_task"]]["aliases"] == []  # never promoted automatically
    assert result["champion_version"] == registry["champion"] and result["versions"][0]["metric"] == "test_macro_f1"
    table = err.splitlines()
    assert any(line.split()[:1] == [registry["rejected"]] and "rejected" in line for line in table), err
    assert any(line.split()[:1] == [registry["other_task"]] and "(other task)" in line for line in table), err


@pytest.mark.parametrize("command", ["history", "versions", "settings"])
def test_on_a_terminal_a_table_and_no_json_line(registry: dict[str, str], local_env: Path, command: str) -> None:
    code, out, err = on_terminal(local_env, command)
    assert code == 0, err
    assert "{" not in out, f"no JSON line on a terminal: {out!r}"
    assert len(err.splitlines()) >= 3, err  # a table (title, header, rows)
    code, out, _ = on_terminal(local_env, command, "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("command", ["history", "versions", "settings"])
def test_piped_the_last_stdout_line_is_json(registry: dict[str, str], command: str, capsys) -> None:
    code, out, _ = run_cli(capsys, command)
    assert code == 0 and isinstance(json.loads(out.splitlines()[-1]), dict)


def test_settings_table_says_where_each_value_comes_from(local_env: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "settings")
    assert code == 0
    [epochs] = [line for line in err.splitlines() if line.split()[:1] == ["ML_EPOCHS"]]
    assert epochs.split()[1:3] == ["2", "environment"], epochs  # local_env sets ML_EPOCHS=2
    [seed] = [line for line in err.splitlines() if line.split()[:1] == ["ML_SEED"]]
    assert seed.split()[1:3] == ["42", "default"], seed


def test_the_makefile_has_versions_and_local_inference() -> None:
    targets = subprocess.run(["make", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True).stdout
    names = {line.split()[0] for line in targets.splitlines() if line.strip()}
    assert {"versions", "local-airflow-infer", "local-dagster-infer"} <= names, sorted(names)
    dry = subprocess.run(["make", "-C", str(ROOT), "-n", "VENV=/nonexistent", "-o", "/nonexistent/.installed",
                          "local-dagster-infer", "INPUT=/tmp/new.csv"], capture_output=True, text=True, check=False)
    assert "ml_trigger local infer --orchestrator dagster --param input_uri=/tmp/new.csv" in dry.stdout, dry.stdout + dry.stderr

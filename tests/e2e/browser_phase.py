"""e2e phase "browser": the UIs in headless Chromium, after the training runs (tests/e2e/browser.py).

The e2e driver is stdlib-only; the browser checks need Playwright, a dev dependency of the
project venv. So this phase runs `.venv/bin/python tests/e2e/browser.py` as a subprocess and
records the checks it prints as its last stdout line (`run_e2e.record`).

    python3 tests/e2e/browser_phase.py     # just this phase, against a running stack
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import run_e2e

ROOT = Path(__file__).resolve().parents[2]
#: The browser checks' own page waits are 45 s each; this bounds the whole subprocess.
TIMEOUT_S = 300


def venv_python() -> Path:
    return Path(os.environ.get("VENV", ROOT / ".venv")) / "bin" / "python"


def run() -> None:
    """Open MLflow, Airflow and Dagster in Chromium; record each check; print where the PNGs are."""
    python = venv_python()
    if not python.exists():
        run_e2e.record("browser: project venv present", False, f"no {python}; run make setup and make browser-deps")
        return
    try:
        proc = subprocess.run([str(python), str(ROOT / "tests" / "e2e" / "browser.py")], cwd=ROOT, text=True,
                              capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        run_e2e.record("browser: UI checks finished", False, f"still running after {TIMEOUT_S}s")
        return
    result = run_e2e.last_json(proc.stdout or "")
    if result is None:  # its own output says why (a traceback, Playwright's message)
        run_e2e.say(proc.stderr[-4000:])
        run_e2e.record("browser: UI checks ran", False, f"exit {proc.returncode}, no JSON result")
        return
    for check in result.get("checks", []):
        run_e2e.record(check["name"], check["passed"], check.get("detail", ""))
    run_e2e.say(f"browser: {result.get('seconds')}s; screenshots:\n  " + "\n  ".join(result.get("screenshots", [])))


if __name__ == "__main__":
    run()
    checks = run_e2e.RESULTS["checks"]
    print(json.dumps({"checks": checks}, indent=2))
    sys.exit(0 if checks and all(c["passed"] for c in checks) else 1)

"""e2e phase "browser": the UIs in headless Chromium, after the first training runs (in_venv/browser.py).

The driver is standard-library only; the browser checks need Playwright, a dev dependency of the
project venv. So this phase runs `.venv/bin/python -m tests.e2e.in_venv.browser` as a subprocess
and records the checks it prints as its last stdout line. 9 checks.

    python3 -m tests.e2e.run --only browser     # just this phase, against a running stack
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from . import stack
from .checklist import CHECKS, last_json, say

#: The browser checks' own page waits are 45 s each; this bounds the whole subprocess.
TIMEOUT_S = 600


def venv_python() -> Path:
    return Path(os.environ.get("VENV", stack.ROOT / ".venv")) / "bin" / "python"


def run() -> None:
    """Open MLflow, Airflow and Dagster in Chromium; record each check; print where the PNGs are."""
    python = venv_python()
    if not python.exists():
        stack.record("browser: project venv present", False, f"no {python}; run make setup and make browser-deps")
        return
    try:
        proc = subprocess.run([str(python), "-m", "tests.e2e.in_venv.browser"], cwd=stack.ROOT, text=True,
                              capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        stack.record("browser: UI checks finished", False, f"still running after {TIMEOUT_S}s")
        return
    result = last_json(proc.stdout or "")
    if result is None:  # its own output says why (a traceback, Playwright's message)
        say(proc.stderr[-4000:])
        stack.record("browser: UI checks ran", False, f"exit {proc.returncode}, no JSON result")
        return
    CHECKS.add(result.get("checks", []))
    for check in result.get("checks", []):
        say(f"[check] {'PASS' if check['passed'] else 'FAIL'}  {check['name']}  -- {check.get('detail', '')}")
    say(f"browser: {result.get('seconds')}s; screenshots:\n  " + "\n  ".join(result.get("screenshots", [])))

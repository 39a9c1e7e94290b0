"""The driver's hands on the stack, on the host with the standard library only: make, compose, the ml image.

Everything a phase does to the stack goes through here: `make <target>` as a user types it,
`docker compose` commands, and `in_ml_image`, which runs one of the in_image/ scripts inside the
ml image on the compose network and merges the checks it prints. What the phases learn that the
summary shows besides checks (runs, parity rows, fault rows) is collected in `RESULTS`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .checklist import CHECKS, in_phase, last_json, say

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlpipes"
ORCHESTRATORS = ("airflow", "dagster")
DEFAULT_INPUT_TEMPLATE = "s3://datasets/inference/{ds}.csv"
#: The rows the summary shows besides the checks (the parity table, the fault table, every run,
#: the security attempts, each model's runs and parity).
RESULTS: dict[str, list[dict[str, Any]]] = {"runs": [], "parity": [], "faults": [], "security": [], "models": [],
                                            "cache": [], "resume": []}
_lock = threading.Lock()

record = CHECKS.check


def add_rows(kind: str, rows: list[dict[str, Any]]) -> None:
    """Rows for the summary's `kind` table (several phases may add at once)."""
    with _lock:
        RESULTS[kind].extend(rows)


def compose_cmd() -> list[str]:
    return shlex.split(os.environ.get("COMPOSE", "docker compose"))


def sh(args: list[str], *, check: bool = True, capture: bool = False, stdin: str | None = None,
       timeout: float | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in the repository (shown first); stdout captured when asked, stderr passed through."""
    say(f"$ {' '.join(shlex.quote(a) for a in args)}")
    proc = subprocess.run(args, cwd=ROOT, text=True, input=stdin, timeout=timeout, env=env,
                          stdout=subprocess.PIPE if capture else None, stderr=None, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed (exit {proc.returncode}): {' '.join(args)}")
    return proc


def make(target: str, *variables: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """`make <target> VAR=value...` as a user runs it; stdout captured (the trigger prints its JSON last).

    stdin is not a terminal: `docker compose run` then allocates no TTY.
    """
    return sh(["make", "--no-print-directory", target, *variables], check=False, capture=True, timeout=timeout,
              stdin="")


def env_file_value(name: str) -> str | None:
    """`name`'s value in the checkout's .env (quotes stripped), or None."""
    path = ROOT / ".env"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}="):
            value = line.split("=", 1)[1].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value
    return None


def inference_template() -> str:
    """ML_INFERENCE_INPUT_TEMPLATE as the stack sees it (environment, then .env, then ml's default)."""
    value = os.environ.get("ML_INFERENCE_INPUT_TEMPLATE") or env_file_value("ML_INFERENCE_INPUT_TEMPLATE") or ""
    return value.strip() or DEFAULT_INPUT_TEMPLATE


def pipeline(pipeline_name: str, orchestrator: str, *variables: str, source: str = "make",
             keep_failed: bool = False, timeout: float = 3600) -> dict[str, Any] | None:
    """`make train|infer ORCHESTRATOR=... [VAR=value...]`, as a user runs it; the run's JSON outcome.

    One check (the run succeeded). None when the run failed (with `keep_failed`: only when it printed
    no outcome at all).
    """
    started = time.monotonic()
    proc = make(pipeline_name, f"ORCHESTRATOR={orchestrator}", *variables, timeout=timeout)
    outcome = last_json(proc.stdout or "")
    label = " ".join(["make", pipeline_name, f"ORCHESTRATOR={orchestrator}", *variables])
    ok = proc.returncode == 0 and bool(outcome and outcome.get("succeeded"))
    record(f"{label} succeeds", ok,
           f"{time.monotonic() - started:.0f}s" if ok else f"exit {proc.returncode}: {(outcome or {}).get('error')}")
    if outcome:
        add_rows("runs", [{**outcome, "source": source}])
    return outcome if ok or keep_failed else None


def seed_inputs(uris: list[str], rows: int, seed: int, labelled: bool = False) -> subprocess.CompletedProcess[str]:
    """Demo texts (`python -m ml demo-data`; unlabelled unless `labelled`) at each URI, the i-th with
    seed `seed + i`, in one `docker compose run` of the ml image."""
    flag = "" if labelled else " --no-labelled"
    script = "\n".join(f"python -m ml demo-data --output-uri {shlex.quote(uri)}{flag} --rows {rows} "
                       f"--seed {seed + i}" for i, uri in enumerate(uris))
    return sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", "ml-cli", "sh", "-ec", script],
              check=False, capture=True, timeout=900)


def in_ml_image(module: str, *args: str, stdin: str | None = None, timeout: float = 5400,
                source: str = "") -> dict[str, Any] | None:
    """`python -m tests.e2e.in_image.<module> args` inside the ml image on the compose network.

    Merges the checks it prints (counted for the current phase) and its runs and parity rows;
    returns its JSON result, or None (one failed check) when it printed none. The repository's
    tests/ and ml_trigger/ (the orchestrators' clients, not in the ml image) are mounted read-only
    ahead of the image's own PYTHONPATH (/opt/ml/dagster).
    """
    mounts = ["-v", f"{ROOT / 'tests'}:/opt/e2e/tests:ro"]
    if (ROOT / "ml_trigger").is_dir():  # never let `docker run -v` create a missing source folder
        mounts += ["-v", f"{ROOT / 'ml_trigger'}:/opt/ml_trigger_src/ml_trigger:ro"]
    mounts += ["-e", "PYTHONPATH=/opt/e2e:/opt/ml_trigger_src:/opt/ml/dagster", "-e", "PYTHONDONTWRITEBYTECODE=1"]
    proc = sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", *mounts, "ml-cli",
               "python", "-m", f"tests.e2e.in_image.{module}", *args],
              check=False, capture=True, stdin=stdin, timeout=timeout)
    result = last_json(proc.stdout or "")
    if result is None:
        record(f"in_image.{' '.join([module, *args])} ran", False, f"exit {proc.returncode}, no JSON result")
        return None
    CHECKS.add(result.get("checks", []))
    add_rows("parity", result.get("parity", []))
    add_rows("runs", [{**run, "source": source or (args[0] if args else module)} for run in result.get("runs", [])])
    return result


_SPEC: dict[str, Any] = {}
_SPEC_LOCK = threading.Lock()


def spec() -> dict[str, Any]:
    """The pipelines as `python -m ml pipelines --json` in the ml image describes them, read once.

    The host has no `ml` to import, and names of its own for steps or their order would be a
    second truth.
    """
    with _SPEC_LOCK:
        if not _SPEC:
            proc = sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", "ml-cli", "python", "-m", "ml", "pipelines",
                       "--json"], check=False, capture=True, timeout=600)
            listed = last_json(proc.stdout or "")
            if not listed:
                raise RuntimeError(f"python -m ml pipelines --json in the ml image: exit {proc.returncode}, no JSON")
            _SPEC.update(listed)
    return _SPEC


def spec_step(step: str) -> dict[str, Any]:
    """The spec's entry for pipeline step `step`: what it runs after, its Airflow task, its Dagster asset."""
    steps = {s["step"]: s for pipeline in spec()["pipelines"].values() for s in pipeline["steps"]}
    if step not in steps:
        raise KeyError(f"no pipeline step {step!r} in the spec (steps: {', '.join(sorted(steps))})")
    return steps[step]


def on_both(fn: Callable[[str], Any]) -> dict[str, Any]:
    """`fn(orchestrator)` for both orchestrators at the same time (checks count for the caller's phase)."""
    with ThreadPoolExecutor(max_workers=len(ORCHESTRATORS), thread_name_prefix="both") as pool:
        futures = {o: pool.submit(in_phase(fn), o) for o in ORCHESTRATORS}
        return {o: f.result() for o, f in futures.items()}


def wait_healthy(wait_s: int = 300, env: dict[str, str] | None = None) -> bool:
    """docker/wait-healthy.sh: every service of the stack healthy (or completed) within `wait_s`."""
    return subprocess.run(["sh", "docker/wait-healthy.sh", str(wait_s)], cwd=ROOT, env=env, text=True, check=False,
                          timeout=wait_s + 100).returncode == 0


def recreate_services(services: list[str], settings: dict[str, str], wait_s: int = 600) -> tuple[int, bool]:
    """`compose up -d --no-deps` of `services` with `settings` over .env (as a user editing .env does),
    then wait until every service is healthy; compose's exit code and whether they became healthy."""
    env = {**os.environ, **settings}
    say(f"$ {' '.join(f'{k}={v}' for k, v in settings.items())} {' '.join(compose_cmd())} up -d --no-deps "
        f"{' '.join(services)}")
    up = subprocess.run([*compose_cmd(), "up", "-d", "--no-deps", *services], cwd=ROOT, env=env,
                        text=True, check=False, timeout=600)
    return up.returncode, wait_healthy(wait_s, env)


def docker_info_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def dump_failures() -> None:
    """On failure: the state of every service and the logs of those not running/healthy."""
    sh([*compose_cmd(), "ps", "-a"], check=False)
    proc = sh([*compose_cmd(), "ps", "-a", "--format", "{{.Service}}|{{.State}}|{{.Health}}|{{.ExitCode}}"],
              check=False, capture=True)
    for line in (proc.stdout or "").splitlines():
        service, state, health, code = [*line.split("|"), "", "", "", ""][:4]
        if (state != "running" and code != "0") or health == "unhealthy":
            sh([*compose_cmd(), "logs", "--no-color", "--tail", "80", service], check=False)
    for service in ("airflow-scheduler", "dagster-daemon"):
        sh([*compose_cmd(), "logs", "--no-color", "--tail", "60", service], check=False)


def teardown() -> None:
    """`compose down -v`; one check: no container of the project, no step container, none of the ml image left."""
    sh([*compose_cmd(), "down", "-v", "--remove-orphans"], check=False)
    leftovers = []
    for flt in (f"label=com.docker.compose.project={PROJECT}", "label=ml.orchestrator"):
        proc = sh(["docker", "ps", "-aq", "--filter", flt], check=False, capture=True)
        leftovers += (proc.stdout or "").split()
    image = os.environ.get("ML_IMAGE") or env_file_value("ML_IMAGE") or "mlpipes/ml:local"
    proc = sh(["docker", "ps", "-aq", "--filter", f"ancestor={image}"], check=False, capture=True)
    leftovers += (proc.stdout or "").split()
    record("teardown leaves no containers behind", not leftovers, f"{len(set(leftovers))} left")


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)

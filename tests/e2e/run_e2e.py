#!/usr/bin/env python3
"""`make e2e`: prove the whole compose stack, the way users drive it, and time it.

Runs on the host with the standard library only (the host needs docker, make and python3):
  1. clean start (`docker compose down -v`), then `make up` (build, start, wait healthy);
  2. `make train` and `make infer` through Airflow and through Dagster (the user's commands);
  3. checks through each system's own API, run inside the ml image (tests/e2e/checks.py):
     orchestrator run states, MLflow versions/aliases/lineage, champion = best, predictions in the
     object store carrying the resolved version, ml logs visible in Airflow and Dagster;
  4. load test: N training + N inference runs at once on each orchestrator;
  5. a bad dataset fails with a one-line reason and publishes nothing;
  6. teardown, leaving no containers behind;
  7. a summary table (each check, each run's and step's wall time) and bench/results/e2e.json.

Extra compose files (CI's stand-ins, the CA bundle) come through COMPOSE_FILE, as for make.
Not collected by `pytest tests` (the file name does not start with test_).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlpipes"
RESULTS: dict[str, Any] = {"checks": [], "runs": [], "phases": {}}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def compose_cmd() -> list[str]:
    return shlex.split(os.environ.get("COMPOSE", "docker compose"))


def sh(args: list[str], *, check: bool = True, capture: bool = False, stdin: str | None = None,
       timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    say(f"$ {' '.join(shlex.quote(a) for a in args)}")
    proc = subprocess.run(args, cwd=ROOT, text=True, input=stdin, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None, stderr=None, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"command failed (exit {proc.returncode}): {' '.join(args)}")
    return proc


def record(name: str, passed: bool, detail: str = "") -> bool:
    RESULTS["checks"].append({"name": name, "passed": bool(passed), "detail": detail})
    say(f"[check] {'PASS' if passed else 'FAIL'}  {name}{'  -- ' + detail if detail else ''}")
    return passed


def phase(name: str, started: float) -> None:
    RESULTS["phases"][name] = round(time.monotonic() - started, 1)


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def make(target: str, *variables: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return sh(["make", "--no-print-directory", target, *variables], check=False, capture=True, timeout=timeout)


def pipeline(pipeline_name: str, orchestrator: str) -> dict[str, Any] | None:
    """`make train|infer ORCHESTRATOR=...`, as a user runs it; the run's JSON outcome."""
    started = time.monotonic()
    proc = make(pipeline_name, f"ORCHESTRATOR={orchestrator}")
    outcome = last_json(proc.stdout or "")
    label = f"make {pipeline_name} ORCHESTRATOR={orchestrator}"
    ok = proc.returncode == 0 and bool(outcome and outcome.get("succeeded"))
    record(f"{label} succeeds", ok,
           f"{time.monotonic() - started:.0f}s" if ok else f"exit {proc.returncode}: {(outcome or {}).get('error')}")
    if outcome:
        outcome["source"] = "make"
        RESULTS["runs"].append(outcome)
    return outcome if ok else None


def in_ml_image(args: list[str], stdin: str | None = None, timeout: float = 5400) -> dict[str, Any] | None:
    """Run tests/e2e/checks.py inside the ml image on the compose network; merge its checks."""
    mount = f"{ROOT / 'tests' / 'e2e'}:/e2e:ro"
    proc = sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", "-v", mount, "ml-cli", "python", "/e2e/checks.py",
               *args], check=False, capture=True, stdin=stdin, timeout=timeout)
    result = last_json(proc.stdout or "")
    if result is None:
        record(f"checks.py {' '.join(args)} ran", False, f"exit {proc.returncode}, no JSON result")
        return None
    RESULTS["checks"].extend(result.get("checks", []))
    for run in result.get("runs", []):
        run["source"] = args[0]
        RESULTS["runs"].append(run)
    return result


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
    started = time.monotonic()
    sh([*compose_cmd(), "down", "-v", "--remove-orphans"], check=False)
    leftovers = []
    for flt in (f"label=com.docker.compose.project={PROJECT}", "label=ml.orchestrator"):
        proc = sh(["docker", "ps", "-aq", "--filter", flt], check=False, capture=True)
        leftovers += (proc.stdout or "").split()
    image = os.environ.get("ML_IMAGE") or env_file_value("ML_IMAGE") or "mlpipes/ml:local"
    proc = sh(["docker", "ps", "-aq", "--filter", f"ancestor={image}"], check=False, capture=True)
    leftovers += (proc.stdout or "").split()
    record("teardown leaves no containers behind", not leftovers, f"{len(set(leftovers))} left")
    phase("teardown", started)


def env_file_value(name: str) -> str | None:
    path = ROOT / ".env"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    return None


def summary_table() -> str:
    lines = ["", "== e2e checks", f"{'result':<6}  check"]
    for c in RESULTS["checks"]:
        lines.append(f"{'PASS' if c['passed'] else 'FAIL':<6}  {c['name']}" + (f"  ({c['detail']})" if c["detail"] else ""))
    lines += ["", "== pipeline runs (wall time of the run, then of each step)",
              f"{'source':<12} {'orchestrator':<12} {'pipeline':<8} {'state':<10} {'wall_s':>8}  steps"]
    for r in RESULTS["runs"]:
        steps = ", ".join(f"{k}={v.get('duration_s') if v.get('duration_s') is not None else '-'}"
                          for k, v in (r.get("steps") or {}).items())
        lines.append(f"{r.get('source', ''):<12} {r.get('orchestrator', ''):<12} {r.get('pipeline', ''):<8} "
                     f"{r.get('state')!s:<10} {r.get('wall_s', 0) or 0:>8.1f}  {steps}")
    lines += ["", "== phases (s): " + ", ".join(f"{k}={v}" for k, v in RESULTS["phases"].items())]
    passed = sum(c["passed"] for c in RESULTS["checks"])
    lines.append(f"== {passed}/{len(RESULTS['checks'])} checks passed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=int, default=5, help="runs of each pipeline at once per orchestrator")
    parser.add_argument("--load-param", action="append", default=["epochs=1"],
                        help="training params of the load test runs (key=value, repeatable)")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    parser.add_argument("--no-clean-start", action="store_true", help="reuse running services and volumes")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "e2e.json"))
    args = parser.parse_args(argv)

    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        say("error: no Docker engine answers `docker info`; start one (on CI: .ci/docker-engine.sh)")
        return 2
    total = time.monotonic()
    failed_early = False
    try:
        if not args.no_clean_start:
            sh([*compose_cmd(), "down", "-v", "--remove-orphans"], check=False)
        started = time.monotonic()
        up = make("up", timeout=3600)
        phase("make up (build + start + healthy)", started)
        if not record("make up: every service healthy", up.returncode == 0, f"{RESULTS['phases']['make up (build + start + healthy)']:.0f}s"):
            failed_early = True
            return 1

        started = time.monotonic()
        made = [o for o in (pipeline("train", "airflow"), pipeline("train", "dagster"),
                            pipeline("infer", "airflow"), pipeline("infer", "dagster")) if o]
        phase("make train/infer x2", started)
        started = time.monotonic()
        in_ml_image(["verify"], stdin=json.dumps(made))
        phase("verify", started)

        load_params = [a for p in args.load_param for a in ("--param", p)]
        for orchestrator in ("airflow", "dagster"):
            started = time.monotonic()
            in_ml_image(["load", "--orchestrator", orchestrator, "--n", str(args.load), *load_params])
            phase(f"load {orchestrator}", started)
        for orchestrator in ("airflow", "dagster"):
            started = time.monotonic()
            in_ml_image(["bad-dataset", "--orchestrator", orchestrator])
            phase(f"bad dataset {orchestrator}", started)
        # champion must still be the best after all the runs above
        in_ml_image(["verify"], stdin="[]")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        record("e2e driver ran to the end", False, str(exc))
    finally:
        if failed_early or not all(c["passed"] for c in RESULTS["checks"]):
            dump_failures()
        if not args.keep:
            teardown()
        RESULTS["phases"]["total"] = round(time.monotonic() - total, 1)
        say(summary_table())
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(RESULTS, indent=2, default=str) + "\n")
        say(f"results: {output}")
    return 0 if RESULTS["checks"] and all(c["passed"] for c in RESULTS["checks"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""`make e2e`: prove the whole compose stack, the way users drive it, and time it.

Runs on the host with the standard library only (the host needs docker, make and python3):
  1. clean start (`docker compose down -v`), then `make up` (build, start, wait healthy);
  2. `make train` and `make infer` through Airflow and through Dagster (the user's commands);
  3. checks through each system's own API, run inside the ml image (tests/e2e/checks.py):
     orchestrator run states, MLflow versions/aliases/lineage, champion = best, predictions in the
     object store carrying the resolved version, ml logs visible in Airflow and Dagster;
  4. parity (tests/e2e/parity.py, in the ml image): Airflow and Dagster mean the same thing. The
     runs of 2. compared pairwise (same MLflow test metrics, lineage tags and params; the same
     model version and, per id, the same predictions), then both orchestrators started at the same
     moment on `make infer PARAMS=input_uri=` (inputs seeded for yesterday and today, UTC) must read
     the same partition, the UTC day before the trigger;
  5. load test: N training + N inference runs at once on each orchestrator;
  6. a bad dataset fails with a one-line reason and publishes nothing; drift: every inference run
     logged its drift verdict (the demo partitions are not flagged), and French texts labelled
     through both orchestrators at once are flagged as drift;
  7. the UIs in a real browser right after 3. (tests/e2e/browser_phase.py: MLflow, Airflow and
     Dagster pages of the runs just made, screenshots in bench/results/e2e-browser/);
  8. new data (tests/e2e/new_data.py): five files landing at once under ML_NEW_DATA_PREFIX start
     five training runs on each orchestrator by themselves; the same upload again starts none;
  9. backfill (tests/e2e/backfill.py): `make backfill` over a few days on both orchestrators, one
     stable daily location per day, a missing day fails alone;
  10. models (tests/e2e/models.py): a second model (other columns, two classes) added to the
     catalog, trained and labelled on both orchestrators while the demo model runs too; each
     model's champion and history its own, per-model parity; the model lifecycle: a dataset with
     another label set under the same model name is refused before it trains, `make rollback` pins an earlier version, inference on both
     orchestrators then uses it, `make history` and MLflow show every move once, `make unpin`;
  11. faults (tests/e2e/chaos.py, also `make chaos`): containers killed, services restarted and
     runs cancelled from outside while runs are in flight; the fault table in the summary;
  12. approval mode, last: the deciding services restarted with ML_PROMOTION_MODE=approval, a
     training run on each orchestrator waits for a decision; Airflow's human-in-the-loop task is
     answered through its REST API (what its form sends), Dagster's review_job rejects;
  13. teardown, leaving no containers behind;
  14. a summary table (the parity table, each check, the fault table, each run's and step's wall
     time, each phase's time) and bench/results/e2e.json.

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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

# The phase modules next to this file (browser_phase, chaos, ...) `import run_e2e`: run as a
# script this module is `__main__`, so register it under its name, or they would get a second
# copy with its own RESULTS.
sys.modules.setdefault("run_e2e", sys.modules[__name__])

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "mlpipes"
RESULTS: dict[str, Any] = {"checks": [], "runs": [], "phases": {}, "parity": []}
ORCHESTRATORS = ("airflow", "dagster")
DEFAULT_INPUT_TEMPLATE = "s3://datasets/inference/{ds}.csv"
#: The rows of each seeded inference partition (kept small: the parity runs label them).
PARTITION_ROWS = 200
_lock = threading.Lock()  # the parity runs record from two threads


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
    with _lock:
        RESULTS["checks"].append({"name": name, "passed": bool(passed), "detail": detail})
    say(f"[check] {'PASS' if passed else 'FAIL'}  {name}{'  -- ' + detail if detail else ''}")
    return passed


def phase(name: str, started: float) -> None:
    RESULTS["phases"][name] = round(time.monotonic() - started, 1)
    say(f"== phase {name}: {RESULTS['phases'][name]}s")


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
    # stdin is not the terminal: `docker compose run` then allocates no TTY, and the trigger prints
    # its JSON result as the last stdout line, as it does for any script.
    return sh(["make", "--no-print-directory", target, *variables], check=False, capture=True, timeout=timeout,
              stdin="")


def pipeline(pipeline_name: str, orchestrator: str, *variables: str, source: str = "make",
             keep_failed: bool = False, timeout: float = 3600) -> dict[str, Any] | None:
    """`make train|infer ORCHESTRATOR=... [VAR=value...]`, as a user runs it; the run's JSON outcome.

    None when the run failed (with `keep_failed`: only when it printed no outcome at all). Safe to
    call from several threads at once (the parity runs).
    """
    started = time.monotonic()
    proc = make(pipeline_name, f"ORCHESTRATOR={orchestrator}", *variables, timeout=timeout)
    outcome = last_json(proc.stdout or "")
    label = " ".join(["make", pipeline_name, f"ORCHESTRATOR={orchestrator}", *variables])
    ok = proc.returncode == 0 and bool(outcome and outcome.get("succeeded"))
    record(f"{label} succeeds", ok,
           f"{time.monotonic() - started:.0f}s" if ok else f"exit {proc.returncode}: {(outcome or {}).get('error')}")
    if outcome:
        outcome["source"] = source
        with _lock:
            RESULTS["runs"].append(outcome)
    return outcome if ok or keep_failed else None


def in_ml_image(args: list[str], stdin: str | None = None, timeout: float = 5400,
                script: str = "checks.py") -> dict[str, Any] | None:
    """Run tests/e2e/<script> inside the ml image on the compose network; merge its checks (and parity rows).

    The trigger package (ml_trigger/, which checks.py imports) is not in the ml image: it is mounted
    from this checkout, ahead of the image's own PYTHONPATH (/opt/ml/dagster).
    """
    mounts = ["-v", f"{ROOT / 'tests' / 'e2e'}:/e2e:ro"]
    if (ROOT / "ml_trigger").is_dir():  # never let `docker run -v` create a missing source folder
        mounts += ["-v", f"{ROOT / 'ml_trigger'}:/opt/ml_trigger_src/ml_trigger:ro"]
    mounts += ["-e", "PYTHONPATH=/opt/ml_trigger_src:/opt/ml/dagster"]
    proc = sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", *mounts, "ml-cli", "python", f"/e2e/{script}",
               *args], check=False, capture=True, stdin=stdin, timeout=timeout)
    result = last_json(proc.stdout or "")
    if result is None:
        record(f"{' '.join([script, *args])} ran", False, f"exit {proc.returncode}, no JSON result")
        return None
    with _lock:  # callers may run two of these at once (on_both)
        RESULTS["checks"].extend(result.get("checks", []))
        RESULTS["parity"].extend(result.get("parity", []))
        for run in result.get("runs", []):
            run["source"] = args[0] if args else script.removesuffix(".py")
            RESULTS["runs"].append(run)
    return result


# --- parity: Airflow and Dagster mean the same thing ------------------------------------------


def inference_template() -> str:
    """ML_INFERENCE_INPUT_TEMPLATE as the stack sees it (environment, then .env, then ml's default)."""
    value = os.environ.get("ML_INFERENCE_INPUT_TEMPLATE") or env_file_value("ML_INFERENCE_INPUT_TEMPLATE") or ""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value or DEFAULT_INPUT_TEMPLATE


def partition_days(now: datetime) -> list[date]:
    """The partitions a run triggered around `now` may label: yesterday and today (UTC).

    Yesterday's is the one a run triggered today labels; today's covers midnight UTC passing before
    the trigger. (The rule itself is ml/partitions.py's; parity.py checks against it.)
    """
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=1), today]


def seed_partitions(template: str, days: list[date]) -> bool:
    """Unlabelled demo texts at the partition URIs of `days`, in one `docker compose run`."""
    started = time.monotonic()
    uris = [template.replace("{ds}", d.isoformat()) for d in days]
    script = "\n".join(f"python -m ml demo-data --output-uri {shlex.quote(uri)} --no-labelled "
                       f"--rows {PARTITION_ROWS} --seed 11" for uri in uris)
    proc = sh([*compose_cmd(), "run", "--rm", "--no-deps", "-T", "ml-cli", "sh", "-ec", script],
              check=False, capture=True, timeout=900)
    return record(f"parity: inference inputs seeded for {', '.join(d.isoformat() for d in days)} (UTC)",
                  proc.returncode == 0,
                  f"{len(uris)} x {PARTITION_ROWS} rows at {template}, {time.monotonic() - started:.0f}s"
                  if proc.returncode == 0 else f"exit {proc.returncode}")


def on_both(fn: Callable[[str], Any]) -> dict[str, Any]:
    """`fn(orchestrator)` for both orchestrators at the same time: independent runs share the wall time."""
    with ThreadPoolExecutor(max_workers=len(ORCHESTRATORS), thread_name_prefix="both") as pool:
        futures = {o: pool.submit(fn, o) for o in ORCHESTRATORS}
        return {o: f.result() for o, f in futures.items()}


def partition_runs() -> tuple[dict[str, Any], list[str]]:
    """`make infer ORCHESTRATOR=airflow|dagster PARAMS=input_uri=`, both started at the same moment.

    Returns the outcomes by orchestrator (missing: no outcome printed) and the window (ISO, UTC)
    the triggers fell in.
    """
    barrier = threading.Barrier(len(ORCHESTRATORS))

    def one(orchestrator: str) -> dict[str, Any] | None:
        barrier.wait(timeout=60)
        return pipeline("infer", orchestrator, "PARAMS=input_uri=", source="parity", keep_failed=True, timeout=1800)

    before = datetime.now(UTC)
    outcomes = on_both(one)
    after = datetime.now(UTC)
    return {o: r for o, r in outcomes.items() if r}, [before.isoformat(), after.isoformat()]


def parity(first: dict[tuple[str, str], dict[str, Any] | None]) -> None:
    """Seed today's partitions, run both orchestrators on them at once, compare everything in the ml image."""
    template = inference_template()
    partition: dict[str, Any] = {"template": template}
    if seed_partitions(template, partition_days(datetime.now(UTC))):
        outcomes, window = partition_runs()
        partition.update(outcomes, triggered_between=window)
    pairs = {pipeline_name: {o: first.get((pipeline_name, o)) for o in ORCHESTRATORS if first.get((pipeline_name, o))}
             for pipeline_name in ("train", "infer")}
    pairs["partition"] = partition
    in_ml_image([], stdin=json.dumps(pairs, default=str), timeout=900, script="parity.py")


# --- approval mode: the services that decide restarted with ML_PROMOTION_MODE=approval ---------

#: The services that parse the training DAG or launch its steps (whose environment the steps get).
DECIDING_SERVICES = ["airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "dagster-daemon"]


def recreate_services(services: list[str], settings: dict[str, str], wait_s: int = 600) -> tuple[int, int]:
    """`compose up -d --no-deps` of `services` with `settings` over .env (as a user editing .env does),
    then wait until every service is healthy; the two exit codes."""
    env = {**os.environ, **settings}
    say(f"$ {' '.join(f'{k}={v}' for k, v in settings.items())} {' '.join(compose_cmd())} up -d --no-deps {' '.join(services)}")
    up = subprocess.run([*compose_cmd(), "up", "-d", "--no-deps", *services], cwd=ROOT, env=env,
                        text=True, check=False, timeout=600)
    healthy = subprocess.run(["sh", "docker/wait-healthy.sh", str(wait_s)], cwd=ROOT, env=env, text=True,
                             check=False, timeout=wait_s + 100)
    return up.returncode, healthy.returncode


def restart_deciding_services(mode: str) -> bool:
    """Recreate the deciding services with ML_PROMOTION_MODE=mode."""
    up, healthy = recreate_services(DECIDING_SERVICES, {"ML_PROMOTION_MODE": mode})
    return record(f"ML_PROMOTION_MODE={mode}: deciding services restarted and healthy",
                  up == 0 and healthy == 0, f"exit {up}/{healthy}")


def approval_mode(restore: bool = True) -> None:
    """Approval mode on both orchestrators (Airflow: the HITL task approves; Dagster: review_job rejects).

    `restore=False` (the last phase before teardown) leaves the services in approval mode.
    """
    if restart_deciding_services("approval"):
        in_ml_image(["approval"], timeout=1800)
    if restore:
        restart_deciding_services(env_file_value("ML_PROMOTION_MODE") or "auto")


# --- model lifecycle: another task, rollback through make, inference on the pinned version -----

ROLLBACK_REASON = "e2e: roll back to an earlier version"


def lifecycle() -> None:
    """Another label set under the same name (not promoted), `make rollback`, both orchestrators'
    inference on the rolled-back version, `make history`, then `make unpin`."""
    result = in_ml_image(["other-task", "--orchestrator", "dagster"])
    target = ((result or {}).get("lifecycle") or {}).get("rollback_to")
    if not record("lifecycle: an earlier version of the champion's task to roll back to", bool(target), f"v{target}"):
        return
    rollback = make("rollback", f"VERSION={target}", f"REASON={ROLLBACK_REASON}", timeout=300)
    record(f"make rollback VERSION={target} REASON=... succeeds", rollback.returncode == 0, f"exit {rollback.returncode}")
    for orchestrator, outcome in on_both(lambda o: pipeline("infer", o, source="lifecycle")).items():
        used = ((outcome or {}).get("summary") or {}).get("model_version")
        record(f"{orchestrator} infer after the rollback uses v{target}", str(used) == str(target), f"v{used}")
    shown = subprocess.run(["make", "--no-print-directory", "history"], cwd=ROOT, text=True, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=300, check=False)
    say(shown.stderr)
    record("make history prints the rollback with its reason",
           shown.returncode == 0 and "rollback" in shown.stderr and ROLLBACK_REASON in shown.stderr,
           f"exit {shown.returncode}, {len(shown.stderr.splitlines())} lines")
    in_ml_image(["lifecycle-verify", "--version", str(target), "--reason", ROLLBACK_REASON])
    unpin = make("unpin", timeout=300)
    record("make unpin succeeds", unpin.returncode == 0, f"exit {unpin.returncode}")


def first_runs() -> dict[tuple[str, str], dict[str, Any] | None]:
    """`make train` on both orchestrators at once, then `make infer` on both (it needs a champion)."""
    return {(p, o): outcome for p in ("train", "infer") for o, outcome in on_both(lambda o, p=p: pipeline(p, o)).items()}


def timed(name: str, fn: Callable[[], Any]) -> Any:
    """Run one phase and record its wall time under `name`."""
    started = time.monotonic()
    try:
        return fn()
    finally:
        phase(name, started)


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


def _cell(value: Any, width: int) -> str:
    text = str(value)
    return f"{text if len(text) <= width else text[: width - 1] + '…':<{width}}"


def summary_table() -> str:
    lines = []
    if RESULTS["parity"]:
        lines += ["", "== parity (airflow vs dagster)",
                  f"{_cell('what', 34)} {_cell('airflow', 44)} {_cell('dagster', 44)} equal"]
        for p in RESULTS["parity"]:
            lines.append(f"{_cell(p.get('what', ''), 34)} {_cell(p.get('airflow', ''), 44)} "
                         f"{_cell(p.get('dagster', ''), 44)} {'yes' if p.get('equal') else 'NO'}")
    if RESULTS.get("faults"):
        import chaos  # its table: fault | orchestrator | outcome | retries | time to recover | data check

        lines.append(chaos.fault_table())
    lines += ["", "== e2e checks", f"{'result':<6}  check"]
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

        first = timed("make train/infer x2", first_runs)
        made = [o for o in first.values() if o]
        timed("verify", lambda: in_ml_image(["verify"], stdin=json.dumps(made)))
        import browser_phase  # phase modules import this one (see the top)

        timed("browser", browser_phase.run)  # before later phases move the aliases
        timed("parity", lambda: parity(first))
        load_params = [a for p in args.load_param for a in ("--param", p)]
        for orchestrator in ORCHESTRATORS:
            timed(f"load {orchestrator}", lambda o=orchestrator: in_ml_image(
                ["load", "--orchestrator", o, "--n", str(args.load), *load_params]))
        timed("bad dataset (both at once)", lambda: on_both(lambda o: in_ml_image(["bad-dataset", "--orchestrator", o])))
        timed("drift", lambda: in_ml_image(["drift"]))
        import new_data  # phase modules import this one (see the top)

        timed("new data", new_data.run)  # trains: before the verify below (champion = best)
        import backfill  # phase modules import this one (see the top)

        timed("backfill", backfill.run)
        import models  # phase modules import this one (see the top)

        timed("models", models.run)  # trains the demo model too: before the verify below (champion = best)
        # champion must still be the best after all the runs above
        in_ml_image(["verify"], stdin="[]")
        timed("lifecycle", lifecycle)
        import chaos  # phase modules import this one (see the top)

        timed("faults", chaos.run)  # needs no other run in flight, and auto promotion
        # last: the deciding services are restarted into approval mode and back only with --keep
        timed("approval mode", lambda: approval_mode(restore=args.keep))
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

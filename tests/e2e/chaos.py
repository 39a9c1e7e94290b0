"""The fault phase (`make chaos` alone against a running stack; `make e2e` runs it too).

Faults come from outside, as they do in production: `docker kill|pause` of the step container,
`docker compose restart` of a service, a cancel through each orchestrator's own API. No hook in
production code. For each fault and orchestrator (Airflow's and Dagster's side run at once) a
tiny run is started, the host waits until the run reaches the step to hit, injects, and the
in-image half (in_image/chaos.py) follows the run to its end and reads the registry and the object
store. Every row then checks: the outcome the policy promises, no container labelled as an ml
step left behind, no completion mark under the results/work prefixes that a reader would trust
while what it marks is missing or newer (in_image/chaos.py, `reader_hazards`), champion where the
documented rule puts it, and (training) exactly one new version per run.

Host side: the standard library only, like the driver. One check per row (fault x orchestrator);
the rows go to the fault table (`stack.RESULTS["faults"]`).

    python3 -m tests.e2e.chaos [--only WORD]     # make chaos CHAOS_ARGS="--only cancel"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import report, stack
from .checklist import CHECKS, say
from .phases import ALONE, Phase, run_phases

#: Tiny training runs (the phase budget is 10 minutes on a 2-core machine); 200 samples fail the quality gate.
TRAIN_PARAMS = ["epochs=1"]
#: A Dagster run is one container that runs every step; Airflow starts one container per step.
STEP_LABEL = "ml.orchestrator"
CANCEL_DEADLINE_S = 30.0
RUN_TIMEOUT_S = 420.0


@dataclass
class Fault:
    """One fault: which pipeline, at which step, how it is injected, and what must follow."""

    name: str
    pipeline: str
    hits: tuple[tuple[str, Callable[[str, str], str]], ...]  # (spec step, inject(orchestrator, container id))
    expect: str  # "success" | "ends" (succeeds or fails visibly) | "stopped" (cancelled)
    params: tuple[str, ...] = ()
    default: bool = True  # False: only with --only (outside the e2e time budget)
    #: Settings the deciding Airflow services are restarted with for this row (and back after it).
    airflow_env: tuple[tuple[str, str], ...] = ()
    #: Tags of the Dagster run (what a user may set in the launchpad).
    dagster_tags: tuple[tuple[str, str], ...] = ()


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], text=True, capture_output=True, timeout=timeout, check=False)


def step_containers(orchestrator: str | None = None) -> list[dict[str, str]]:
    """Containers (any state) labelled as ml steps (`ml.orchestrator`), or Dagster run containers
    (`dagster/run_id`, set by DockerRunLauncher), with their labels."""
    rows: dict[str, dict[str, str]] = {}
    for flt in (f"label={STEP_LABEL}", "label=dagster/run_id"):
        proc = docker("ps", "-a", "--filter", flt, "--format", "{{json .}}")
        for line in (proc.stdout or "").splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["ID"]] = {"id": r["ID"], "state": r.get("State", ""), "labels": r.get("Labels", ""),
                                 "name": r.get("Names", "")}
    def owner(c: dict[str, str]) -> str:
        return "dagster" if "dagster/run_id=" in c["labels"] or f"{STEP_LABEL}=dagster" in c["labels"] else "airflow"
    return [c for c in rows.values() if orchestrator is None or owner(c) == orchestrator]


def wait_for_step(orchestrator: str, step: str, timeout: float = 300) -> str | None:
    """The id of the container running `step`, once that step has started.

    One fault runs at a time per orchestrator, so the step container of this orchestrator is the
    fault's run (for Dagster also its run retry, a new run id in a new container).
    """
    asset = stack.spec_step(step)["dagster_asset"]  # the run worker's step key for it
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in step_containers(orchestrator):
            if c["state"] != "running":
                continue
            if orchestrator == "airflow" and f"ml.step={step}" in c["labels"].split(","):
                return c["id"]
            if orchestrator == "dagster":
                logs = docker("logs", c["id"], timeout=30)
                if f" - {asset} - STEP_START - " in (logs.stdout or "") + (logs.stderr or ""):
                    return c["id"]
        time.sleep(1)
    return None


# --- injections ---------------------------------------------------------------------------------


def kill_container(_: str, cid: str) -> str:
    docker("kill", cid)
    return f"docker kill {cid[:12]}"


def pause_container(_: str, cid: str) -> str:
    docker("pause", cid)
    return f"docker pause {cid[:12]}"


def restart_service(service: str) -> Callable[[str, str], str]:
    def inject(_: str, __: str) -> str:
        stack.sh([*stack.compose_cmd(), "restart", service], check=False, timeout=300)
        return f"docker compose restart {service}"
    return inject


# --- one row ------------------------------------------------------------------------------------


def checks_cmd(*args: str, timeout: float = 900) -> dict[str, Any]:
    return stack.in_ml_image("chaos", *args, timeout=timeout) or {}


def one(fault: Fault, orchestrator: str) -> dict[str, Any]:
    """Start a run, inject at each of the fault's steps, follow it to the end; the fault table's row."""
    row: dict[str, Any] = {"fault": fault.name, "orchestrator": orchestrator, "outcome": "", "retries": "",
                           "recover_s": "", "data_check": "", "passed": False, "detail": ""}
    since_ms = int(time.time() * 1000)
    params = [a for p in (*TRAIN_PARAMS, *fault.params) for a in ("--param", p)] if fault.pipeline == "train" else []
    tags = [a for k, v in fault.dagster_tags for a in ("--tag", f"{k}={v}")] if orchestrator == "dagster" else []
    started = checks_cmd("start", "--orchestrator", orchestrator, "--pipeline", fault.pipeline, *params, *tags)
    run_id = started.get("run_id")
    if not run_id:
        row["detail"] = f"could not start: {started.get('error')}"
        return row
    done: list[str] = []
    injected_at = time.monotonic()
    for step, inject in fault.hits:
        cid = wait_for_step(orchestrator, step)
        if cid is None:
            row["detail"] = f"run {run_id}: step {step} never started ({'; '.join(done)})"
            return row
        injected_at = time.monotonic()
        done.append(f"{step}: {inject(orchestrator, cid if fault.expect != 'stopped' else run_id)}")
        if fault.expect == "stopped":
            stopped = wait_gone(cid, CANCEL_DEADLINE_S + 30)
            row["recover_s"] = round(stopped, 1) if stopped is not None else f">{CANCEL_DEADLINE_S + 30:.0f}"
    followed = checks_cmd("follow", "--orchestrator", orchestrator, "--pipeline", fault.pipeline, "--run-id", run_id,
                          "--since", str(since_ms), "--timeout", str(RUN_TIMEOUT_S))
    if fault.expect != "stopped":
        row["recover_s"] = round(time.monotonic() - injected_at, 1)
    leftovers = step_containers_after(orchestrator, 30)
    new_versions = (followed.get("registry") or {}).get("new_versions", [])
    partial = followed.get("partial_objects", ["not checked"])
    state = followed.get("state", followed.get("error", "?"))
    row.update(outcome=state, retries=followed.get("retries", "?"))
    data = [f"{len(new_versions)} new version(s) {new_versions}" if fault.pipeline == "train" else "",
            f"{followed.get('objects_checked', 0)} objects, {len(partial)} incomplete",
            "champion ok" if followed.get("champion_ok") else f"champion: {followed.get('champion_detail')}",
            f"{len(leftovers)} containers left"]
    row["data_check"] = ", ".join(d for d in data if d)
    terminal = state in ("success", "failed", "SUCCESS", "FAILURE", "CANCELED")
    if fault.expect == "success":
        outcome_ok = bool(followed.get("succeeded"))
    elif fault.expect == "ends":
        outcome_ok = terminal
    else:
        outcome_ok = terminal and not followed.get("succeeded") and isinstance(row["recover_s"], float) \
            and row["recover_s"] <= CANCEL_DEADLINE_S
    # a training run registers exactly one version when it succeeds, none otherwise (never two)
    versions_ok = fault.pipeline != "train" or len(new_versions) == (1 if followed.get("succeeded") else 0)
    # a run that succeeded wrote objects: the incomplete-object check must have had something to look at
    looked = followed.get("objects_checked", 0) > 0 or not followed.get("succeeded")
    row["passed"] = bool(outcome_ok and versions_ok and looked and not partial and followed.get("champion_ok")
                         and not leftovers)
    row["detail"] = (f"{'; '.join(done)}; run {run_id} {json.dumps(followed.get('tasks') or followed.get('statuses'))}"
                     + (f"; {followed['error']}" if followed.get("error") else "")
                     + (f"; left: {[c['name'] for c in leftovers]}" if leftovers else "")
                     + (f"; incomplete: {partial[:3]}" if partial else ""))
    return row


def step_containers_after(orchestrator: str, grace_s: float) -> list[dict[str, str]]:
    """Step containers still there `grace_s` after the run ended (removal follows the exit closely)."""
    deadline = time.monotonic() + grace_s
    while (left := step_containers(orchestrator)) and time.monotonic() < deadline:
        time.sleep(2)
    return left


def wait_gone(cid: str, timeout: float) -> float | None:
    """Seconds until container `cid` no longer runs; None when it still runs after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        proc = docker("inspect", "--format", "{{.State.Running}}", cid, timeout=30)
        if proc.returncode != 0 or proc.stdout.strip() != "true":
            return time.monotonic() - started
        time.sleep(0.5)
    return None


# --- the phase ----------------------------------------------------------------------------------

def cancel_run(pipeline: str) -> Callable[[str, str], str]:
    def inject(orchestrator: str, run_id: str) -> str:
        answer = checks_cmd("cancel", "--orchestrator", orchestrator, "--pipeline", pipeline, "--run-id", run_id)
        return f"cancelled through the API: {answer.get('answer') or answer.get('error')}"
    return inject


def restart_own_service(airflow_service: str, dagster_service: str) -> Callable[[str, str], str]:
    def inject(orchestrator: str, cid: str) -> str:
        return restart_service(airflow_service if orchestrator == "airflow" else dagster_service)(orchestrator, cid)
    return inject


#: One run per row and orchestrator; faults that share a run stay attributable (kill in train,
#: then MLflow restarted in register: the retried train registers once, despite MLflow's restart).
FAULTS = [
    Fault("kill train container; restart MLflow in register", "train",
          (("train", kill_container), ("register", restart_service("mlflow"))), "success"),
    Fault("restart the object store in predict", "infer", (("predict", restart_service("minio")),), "success"),
    Fault("restart Postgres mid-run", "train", (("train", restart_service("postgres")),), "ends", default=False),
    Fault("restart scheduler / daemon mid-run", "train",
          (("train", restart_own_service("airflow-scheduler", "dagster-daemon")),), "ends"),
    Fault("cancel the run through the API", "train", (("train", cancel_run("train")),), "stopped"),
    # The limits are ml's (ml/launch/timeouts.py); shortened here so the row fits in minutes: Airflow's
    # train tasks get ML_STEP_TIMEOUTS=train=60s (services restarted), the Dagster run a 150 s
    # dagster/max_runtime. Paused, the step can do nothing: only the orchestrator can end it.
    Fault("a step hangs (docker pause) past its time limit", "train", (("train", pause_container),), "ends",
          default=False, airflow_env=(("ML_STEP_TIMEOUTS", "train=60s"),),
          dagster_tags=(("dagster/max_runtime", "150"),)),
]
#: Faults the phase does not inject, with the reason (shown in the table, not counted as checks).
NOT_RUN: list[tuple[str, str, str]] = []
#: The Airflow services that parse the DAGs or run their tasks (their environment sets the limits).
AIRFLOW_DECIDING = ["airflow-scheduler", "airflow-dag-processor"]


def restart_airflow_with(env: dict[str, str]) -> None:
    """Recreate Airflow's deciding services with `env` over .env (as a user editing .env does)."""
    stack.recreate_services(AIRFLOW_DECIDING, env, wait_s=300)


def run_fault(fault: Fault) -> list[dict[str, Any]]:
    """Airflow's and Dagster's side of one fault at once."""
    return list(stack.on_both(lambda o: one(fault, o)).values())


def record_row(row: dict[str, Any]) -> None:
    stack.add_rows("faults", [row])
    stack.record(f"fault: {row['fault']} ({row['orchestrator']}): {row['outcome']}", row["passed"],
                   f"retries={row['retries']}, recover={row['recover_s']}s, {row['data_check']}; {row['detail']}")


def only_word(fault: Fault) -> str:
    """A word of the fault's name that selects it alone (`--only WORD`)."""
    return next(w for w in fault.name.split() if sum(w in f.name for f in FAULTS) == 1)


def selected(only: list[str] | None = None) -> list[Fault]:
    """The faults `--only` names (a word of their name), else the default set."""
    return [f for f in FAULTS if any(o in f.name for o in only)] if only else [f for f in FAULTS if f.default]


def needs_a_champion(faults: list[Fault]) -> bool:
    """An inference fault comes before any training fault that leaves a champion to label with."""
    first_infer = next((i for i, f in enumerate(faults) if f.pipeline == "infer"), None)
    return first_infer is not None and not any(f.pipeline == "train" and f.expect == "success"
                                               for f in faults[:first_infer])


def expected_checks(only: list[str] | None = None) -> int:
    """One check per fault and orchestrator, and one for the training run an inference fault may need."""
    faults = selected(only)
    return 2 * len(faults) + needs_a_champion(faults)


def run(only: list[str] | None = None) -> None:
    """The fault phase: every fault on both orchestrators; one check and one table row each."""
    faults = selected(only)
    if needs_a_champion(faults):
        stack.pipeline("train", "dagster", "PARAMS=epochs=1", source="chaos")  # a champion to label with
    for fault in faults:
        if fault.airflow_env:
            restart_airflow_with(dict(fault.airflow_env))
        try:
            for row in run_fault(fault):
                record_row(row)
        finally:
            if fault.airflow_env:  # back to .env's values
                restart_airflow_with({k: stack.env_file_value(k) or "" for k, _ in fault.airflow_env})
        if not stack.wait_healthy():
            stack.record(f"fault: services healthy again after '{fault.name}'", False, "wait-healthy failed")
    skipped = [(f.name, "both", f"not in the default set (time budget): make chaos CHAOS_ARGS='--only {only_word(f)}'")
               for f in FAULTS if not f.default and f not in faults]
    for name, orchestrator, reason in [*NOT_RUN, *skipped]:
        stack.add_rows("faults", [
            {"fault": name, "orchestrator": orchestrator, "outcome": "not run", "retries": "-", "recover_s": "-",
             "data_check": "-", "passed": None, "detail": reason}])


def save(output: Path, phase: dict[str, Any]) -> None:
    """Replace the fault rows (and the faults phase's figures) in the e2e results file, keeping the rest."""
    results = json.loads(output.read_text()) if output.exists() else {}
    new = stack.RESULTS["faults"]
    measured = {(r["fault"], r["orchestrator"]) for r in new if r["outcome"] != "not run"}
    # rows measured now replace the same rows; the others (an earlier full run's) stay
    kept = [r for r in results.get("faults", []) if (r["fault"], r["orchestrator"]) not in measured
            and not (r["outcome"] == "not run" and any(f == r["fault"] for f, _ in measured))]
    results["faults"] = kept + [r for r in new if (r["fault"], r["orchestrator"]) in measured
                                or not any(k["fault"] == r["fault"] for k in kept)]
    results.setdefault("phases", {})["faults"] = phase
    report.write(output, results)
    say(f"fault rows: {output}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="make chaos: the fault phase against a running stack")
    parser.add_argument("--only", action="append", help="run the faults whose name contains this (repeatable)")
    parser.add_argument("--output", default=str(stack.ROOT / "bench" / "results" / "e2e.json"),
                        help="results file whose `faults` rows (and phase figures) this run replaces")
    args = parser.parse_args(argv)
    (outcome,) = run_phases([Phase("faults", lambda: run(args.only), expected_checks(args.only), ALONE)], CHECKS)
    save(Path(args.output), outcome.as_dict())
    print("\n".join([*report.fault_table(), *report.checks_table()]))
    return 0 if outcome.ok and CHECKS.all_passed() else 1


if __name__ == "__main__":
    raise SystemExit(main())

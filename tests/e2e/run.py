"""`make e2e`: prove the whole compose stack, the way users drive it, phase by phase, and time it.

    python3 -m tests.e2e.run [--load N] [--keep] [--only PHASE ...]     # from the repository root

Runs on the host with the standard library only (the host needs docker, make and python3). The
phases are declared once, in `declare()` below, each with the number of checks it makes and what
it may run beside (tests/e2e/phases.py): phases start in that order, and independent ones share
the wall time. A clean start (`make clean`: the stack, its volumes, leftover step containers)
comes first and a teardown last, leaving no containers. The summary prints the parity table, the fault table, every check with its phase,
every run, and each phase's time and check counts; bench/results/e2e.json keeps them all.

The layout of tests/e2e: the driver and each phase's host side here (standard library only),
the halves that run inside the ml image in in_image/ (`stack.in_ml_image`), the browser checks
that run with the project venv in in_venv/. Extra compose files (CI's stand-ins, the CA bundle)
come through COMPOSE_FILE, as for make.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import backfill, browser, cache, chaos, lifecycle, models, parity, phases, report, resume, security, stack
from .checklist import CHECKS, say
from .phases import ALONE, FREE, STEADY, TRAINS, Phase

#: The outcomes of the first `make train` / `make infer` on each orchestrator, by (pipeline, orchestrator).
FIRST: dict[tuple[str, str], dict[str, Any] | None] = {}


def make_up() -> None:
    up = stack.make("up", timeout=3600)
    stack.record("make up: every service healthy", up.returncode == 0, f"exit {up.returncode}")


def first_runs() -> None:
    """`make train` on both orchestrators at once, then `make infer` on both (it needs a champion)."""
    for pipeline in ("train", "infer"):
        for orchestrator, outcome in stack.on_both(lambda o, p=pipeline: stack.pipeline(p, o)).items():
            FIRST[(pipeline, orchestrator)] = outcome


def verify_first_runs() -> None:
    """Each first run through each system's own API (7 checks a training, 6 an inference), then the champion."""
    stack.in_ml_image("verify", "runs", stdin=json.dumps([o for o in FIRST.values() if o]))
    stack.in_ml_image("verify", "champion")


def load(orchestrator: str, n: int, params: list[str]) -> Callable[[], Any]:
    return lambda: stack.in_ml_image("verify", "load", "--orchestrator", orchestrator, "--n", str(n),
                                     *(a for p in params for a in ("--param", p)))


def declare(options: argparse.Namespace) -> list[Phase]:
    """Every phase of the e2e, in the order they start. Adding a phase is one line here.

    Kinds (phases.py): ALONE runs with nothing beside it; TRAINS may move the champion; STEADY needs
    it unmoved; FREE touches only its own runs. So the first runs' checks, the browser and parity
    run together, drift and the bad dataset beside them, the load and new data phases (which
    train) together after them, and backfill once the champion stops moving.
    """
    n = options.load
    return [
        Phase("make up", make_up, 1, ALONE, essential=True),
        Phase("first runs", first_runs, 4, ALONE),
        Phase("verify", verify_first_runs, 2 * 7 + 2 * 6 + 2, STEADY),
        Phase("browser", browser.run, 9, STEADY),  # before any other training moves the champion
        Phase("parity", lambda: parity.run(FIRST), 15, STEADY),
        Phase("drift", lambda: stack.in_ml_image("verify", "drift"), 4, FREE),
        Phase("bad dataset", lambda: stack.on_both(lambda o: stack.in_ml_image("verify", "bad-dataset",
                                                                               "--orchestrator", o)), 6, FREE),
        Phase("load airflow", load("airflow", n, options.load_param), 3 + 9 * n, TRAINS),
        Phase("load dagster", load("dagster", n, options.load_param), 3 + 9 * n, TRAINS),
        Phase("new data", lambda: stack.in_ml_image("new_data", timeout=1800), 11, TRAINS),
        Phase("cache", cache.run, cache.EXPECTED_CHECKS, TRAINS),
        Phase("champion", lambda: stack.in_ml_image("verify", "champion"), 2, STEADY),  # still the best
        Phase("backfill", backfill.run, 15, STEADY),
        # tries to break in; its forged version must not move the champion (so beside steady phases)
        Phase("security", security.run, security.EXPECTED_CHECKS, STEADY),
        # reloads Dagster's code location and trains the default model too: nothing beside it
        Phase("models", models.run, models.EXPECTED_CHECKS, ALONE),
        Phase("champion again", lambda: stack.in_ml_image("verify", "champion"), 2, STEADY),  # still the best
        Phase("lifecycle", lifecycle.run, 16, ALONE),
        Phase("resume", resume.run, resume.EXPECTED_CHECKS, ALONE),  # stops MLflow for a while
        Phase("faults", chaos.run, chaos.expected_checks(), ALONE),  # needs no other run in flight
        # last: the deciding services go to approval mode, and back only with --keep
        Phase("approval mode", lambda: lifecycle.approval(restore=options.keep), 8 if options.keep else 7, ALONE),
    ]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m tests.e2e.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=int, default=5, help="runs of each pipeline at once per orchestrator")
    parser.add_argument("--load-param", action="append", default=["epochs=1"],
                        help="training params of the load test runs (key=value, repeatable)")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    parser.add_argument("--no-clean-start", action="store_true", help="reuse running services and volumes")
    parser.add_argument("--only", action="append", metavar="PHASE",
                        help="run only these phases, against a running stack (implies --keep and --no-clean-start "
                             "unless `make up` is among them); repeatable")
    parser.add_argument("--output", help="results file (default bench/results/e2e.json; none with --only)")
    options = parser.parse_args(argv)
    if options.only:
        known = [p.name for p in declare(options)]
        unknown = [name for name in options.only if name not in known]
        if unknown:
            parser.error(f"no phase {unknown}; the phases: {', '.join(known)}")
        if "make up" not in options.only:
            options.keep = options.no_clean_start = True
    elif not options.output:
        options.output = str(stack.ROOT / "bench" / "results" / "e2e.json")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    # The phases prove what runs compute (parity, load, faults): the stack starts with the step cache
    # off, and the cache phase turns it on per run (`cache=on`), as a user's default has it.
    os.environ.setdefault("ML_CACHE", "off")
    if not stack.docker_info_answers():
        say("error: no Docker engine answers `docker info`; start one (on CI: .ci/docker-engine.sh)")
        return 2
    selected = [p for p in declare(options) if not options.only or p.name in options.only]
    started = time.monotonic()
    outcomes: list[phases.Outcome] = []
    try:
        if not options.no_clean_start:
            stack.make("clean", timeout=600)  # the stack, its volumes and any step container an earlier run left
        outcomes = phases.run_phases(selected, CHECKS)
    finally:  # interrupted too: the stack comes down and what was measured is written
        if not phases.verdict(outcomes, CHECKS):
            stack.dump_failures()
        if not options.keep:
            outcomes += phases.run_phases([Phase("teardown", stack.teardown, 1, ALONE)], CHECKS)
        total = time.monotonic() - started
        say(report.summary(outcomes, total))
        if options.output:
            report.write(Path(options.output), report.results(outcomes, total))
            say(f"results: {options.output}")
    return 0 if phases.verdict(outcomes, CHECKS) else 1


if __name__ == "__main__":
    raise SystemExit(main())

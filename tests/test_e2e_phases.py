"""The e2e's phase machinery (tests/e2e/phases.py) on fake phases, without Docker.

What it must guarantee: a phase passes only with exactly the checks it declared, all passed (so
no phase passes empty); phases that may not share the stack never run at the same time, and
those that may do; checks made in a phase's helper threads count for that phase; the results
file's per-phase figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e import checklist, phases, report, run
from tests.e2e.checklist import CheckList, in_phase
from tests.e2e.phases import ALONE, FREE, STEADY, TRAINS, Phase, run_phases

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 60.0  # bounds a hang; nothing here waits on speed


def checking(checks: CheckList, n: int, passed: bool = True):
    return lambda: [checks.check(f"check {i}", passed) for i in range(n)]


def test_a_phase_passes_with_exactly_its_declared_checks_all_passed() -> None:
    checks = CheckList()
    (outcome,) = run_phases([Phase("p", checking(checks, 3), 3)], checks)
    assert outcome.ok and (outcome.expected_checks, outcome.checks, outcome.passed) == (3, 3, 3)
    assert phases.verdict([outcome], checks)


@pytest.mark.parametrize("made", [0, 2, 4])
def test_a_phase_with_another_number_of_checks_fails_even_if_all_passed(made: int) -> None:
    checks = CheckList()
    (outcome,) = run_phases([Phase("p", checking(checks, made), 3)], checks)
    assert not outcome.ok
    assert f"{made} checks made, 3 declared" in outcome.verdict()
    assert not phases.verdict([outcome], checks)


def test_a_failed_check_fails_its_phase_and_the_run() -> None:
    checks = CheckList()
    outcomes = run_phases([Phase("bad", checking(checks, 2, passed=False), 2), Phase("good", checking(checks, 1), 1)],
                          checks)
    assert [o.ok for o in outcomes] == [False, True]
    assert outcomes[0].passed == 0 and not phases.verdict(outcomes, checks)


def test_a_crashed_phase_fails_with_its_reason_and_the_next_phases_still_run() -> None:
    checks = CheckList()

    def crash() -> None:
        checks.check("before the crash", True)
        raise RuntimeError("compose answered 500\nsecond line")

    outcomes = run_phases([Phase("crash", crash, 1), Phase("after", checking(checks, 1), 1)], checks)
    assert not outcomes[0].ok and outcomes[0].note == "crashed: RuntimeError: compose answered 500"
    assert outcomes[1].ok
    assert [c["name"] for c in checks.of_phase("crash")] == ["before the crash", "phase crash ran to the end"]


def test_a_failed_essential_phase_stops_the_phases_after_it() -> None:
    checks = CheckList()
    ran: list[str] = []
    outcomes = run_phases([Phase("make up", checking(checks, 1, passed=False), 1, essential=True),
                           Phase("later", lambda: ran.append("later"), 2)], checks)
    assert ran == []
    assert outcomes[1].note == "not run: make up failed" and outcomes[1].checks == 0 and not outcomes[1].ok
    assert phases.results(outcomes, 1.0)["total"] == {"seconds": 1.0, "expected_checks": 3, "checks": 1, "passed": 0}


def test_kinds_that_conflict_never_overlap_and_compatible_ones_do() -> None:
    """Each fake phase notes which phases were running when it started; the rules of phases.py hold."""
    checks = CheckList()
    running: set[str] = set()
    seen: dict[str, set[str]] = {}
    lock = threading.Lock()
    # "free" blocks until "steady-2" (declared after it, compatible) has started: only concurrency lets it end.
    steady_2_started = threading.Event()

    def phase(name: str, kind: str, wait: threading.Event | None = None, signal: threading.Event | None = None) -> Phase:
        def body() -> None:
            with lock:
                seen[name] = set(running)
                running.add(name)
            if signal:
                signal.set()
            if wait:
                checks.check(f"{name}: ran beside the phase it waited for", wait.wait(DEADLINE_S))
            else:
                checks.check(f"{name} ran", True)
            with lock:
                running.discard(name)
        return Phase(name, body, 1, kind)

    declared = [phase("alone-1", ALONE), phase("steady-1", STEADY), phase("free", FREE, wait=steady_2_started),
                phase("steady-2", STEADY, signal=steady_2_started), phase("trains-1", TRAINS), phase("trains-2", TRAINS),
                phase("steady-3", STEADY), phase("alone-2", ALONE)]
    outcomes = run_phases(declared, checks)
    assert all(o.ok for o in outcomes), [o.verdict() for o in outcomes]
    kinds = {p.name: p.kind for p in declared}
    for name, beside in seen.items():
        assert all(phases.compatible(kinds[name], kinds[other]) for other in beside), (name, beside)
    assert "free" in seen["steady-2"]  # compatible phases did share the wall time
    assert seen["alone-1"] == set() and seen["alone-2"] == set()


def test_a_phase_never_starts_before_the_phases_declared_earlier() -> None:
    """"free" may run beside "steady", but is declared after "trains", which must wait for "steady" to end."""
    checks = CheckList()
    ended: list[str] = []
    started_after: dict[str, list[str]] = {}

    def body(name: str):
        def run_it() -> None:
            started_after[name] = list(ended)
            checks.check(name, True)
            ended.append(name)
        return run_it

    run_phases([Phase("steady", body("steady"), 1, STEADY), Phase("trains", body("trains"), 1, TRAINS),
                Phase("free", body("free"), 1, FREE)], checks)
    assert "steady" in started_after["trains"] and "steady" in started_after["free"]


def test_checks_made_in_helper_threads_count_for_their_phase_only_when_handed_over() -> None:
    """`in_phase` carries the phase into a pool thread (stack.on_both does); a bare thread does not."""
    checks = CheckList()

    def with_pool() -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(in_phase(lambda i: checks.check(f"both {i}", True)), range(2)))

    def bare_thread() -> None:
        thread = threading.Thread(target=lambda: checks.check("lost", True))
        thread.start()
        thread.join()

    handed, lost = run_phases([Phase("handed", with_pool, 2), Phase("bare", bare_thread, 1)], checks)
    assert handed.ok and handed.checks == 2
    assert not lost.ok and lost.checks == 0  # the check was made, but not for any phase: the phase fails


def test_results_have_each_phase_and_the_total() -> None:
    checks = CheckList()
    outcomes = run_phases([Phase("a", checking(checks, 2), 2), Phase("b", checking(checks, 1), 3)], checks)
    table = phases.results(outcomes, 12.34)
    assert set(table) == {"a", "b", "total"}
    assert set(table["a"]) == {"seconds", "expected_checks", "checks", "passed"}
    assert (table["b"]["expected_checks"], table["b"]["checks"], table["b"]["passed"]) == (3, 1, 1)
    assert table["total"] == {"seconds": 12.3, "expected_checks": 5, "checks": 3, "passed": 3}
    assert "FAIL (1 checks made, 3 declared)" in phases.table(outcomes, 12.34)


def test_the_summary_ends_with_each_failed_check_and_its_reason() -> None:
    checks = [{"name": "champion where the rule puts it", "passed": False, "detail": "champion=v1, expected v2",
               "phase": "verify"}, {"name": "aliases", "passed": True, "detail": "", "phase": "verify"}]
    table = report.failures_table(checks)
    assert table[1] == "== failed checks (1)"
    assert "verify" in table[2] and "champion where the rule puts it  -- champion=v1, expected v2" in table[2]
    assert not any("aliases" in line for line in table)
    assert report.failures_table([{"name": "ok", "passed": True, "detail": ""}]) == []


def test_a_phase_must_declare_checks_and_a_known_kind() -> None:
    with pytest.raises(ValueError, match="must check something"):
        Phase("empty", lambda: None, 0)
    with pytest.raises(ValueError, match="kind 'sometimes'"):
        Phase("odd", lambda: None, 1, "sometimes")
    with pytest.raises(ValueError, match="unique"):
        run_phases([Phase("x", lambda: None, 1), Phase("x", lambda: None, 1)], CheckList())


def test_an_empty_check_list_proves_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert not CheckList().all_passed()
    assert checklist.last_json("progress\n{\"checks\": []}\n") == {"checks": []}
    assert checklist.last_json("no result") is None


@pytest.mark.parametrize("load", [3, 5])
def test_the_e2e_declares_every_phase_with_its_checks(load: int) -> None:
    options = run.parse(["--load", str(load)])
    declared = run.declare(options)
    names = [p.name for p in declared]
    assert len(set(names)) == len(names) and names[0] == "make up" and declared[0].essential
    assert {p.name: p.checks for p in declared if p.name.startswith("load ")} == {
        "load airflow": 3 + 9 * load, "load dagster": 3 + 9 * load}
    kinds = {p.name: p.kind for p in declared}
    # the champion moves in TRAINS phases only; the phases that read it are STEADY or run ALONE
    assert kinds["new data"] == kinds["load airflow"] == TRAINS
    assert {kinds[n] for n in ("verify", "browser", "parity", "champion", "backfill")} == {STEADY}
    assert {kinds[n] for n in ("first runs", "lifecycle", "faults", "approval mode")} == {ALONE}
    assert names.index("champion") > max(names.index(n) for n, k in kinds.items() if k == TRAINS)


def test_only_names_known_phases(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.parse(["--only", "no such phase"])
    assert exit_info.value.code == 2 and "the phases: make up, first runs" in capsys.readouterr().err
    only = run.parse(["--only", "backfill"])
    assert only.keep and only.no_clean_start and only.output is None


def test_the_driver_needs_only_the_standard_library() -> None:
    """The host needs docker, make and python3: no site-packages (`-S`) may be imported."""
    done = subprocess.run([sys.executable, "-S", "-c", "import tests.e2e.run, tests.e2e.chaos"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def test_the_fault_and_resume_phases_name_spec_steps() -> None:
    """The host names the steps it waits for as the spec does, and takes their Dagster asset from it."""
    from ml.pipelines.spec import step_named
    from tests.e2e import chaos, resume

    steps = {step for fault in chaos.FAULTS for step, _ in fault.hits} | {resume.FAILING_STEP}
    for step in steps:
        assert step_named(step).dagster_asset, step  # raises for a name the spec does not have


def test_the_resume_and_cache_phases_read_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the host reads from `python -m ml pipelines --json` (there in the ml image) answers its questions."""
    from tests.e2e import cache, resume, stack

    listed = subprocess.run([sys.executable, "-m", "ml", "pipelines", "--json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, check=True).stdout.strip().splitlines()[-1]
    monkeypatch.setattr(stack, "_SPEC", json.loads(listed))
    assert resume.comes_after(resume.FAILING_STEP, "train") and resume.comes_after("promote", "train")
    assert not resume.comes_after("load-training-data", "train") and not resume.comes_after("train", "train")
    assert not resume.comes_after(None, "train")
    with pytest.raises(KeyError, match="no pipeline step 'trian'"):
        stack.spec_step("trian")
    assert cache.cacheable_training_steps() == ["load-training-data", "train", "evaluate"]

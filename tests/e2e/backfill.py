#!/usr/bin/env python3
"""e2e phase: `make backfill` of three seeded days and one missing day, on both orchestrators at once.

Host side, standard library only (like run_e2e.py):
  1. seed three days of unlabelled demo texts at ML_INFERENCE_INPUT_TEMPLATE (100 rows each, one
     `docker compose run` of the ml image); the fourth day has no input;
  2. `make backfill FROM=<day 1> TO=<day 4>` as a user runs it (Airflow and Dagster at once):
     it fails (the trigger exits 1), the three days succeed on both orchestrators at their stable location
     (`.../daily/<day>/predictions.parquet`), the fourth fails alone with the step's one-line reason;
  3. in the ml image (tests/e2e/backfill_checks.py): per day, the two orchestrators' own staged
     predictions carry identical labels, and the stable file is whole and equals the staged file
     of the run that wrote it last (one of the two); Dagster shows the three days labelled (the
     partitions of daily/published_predictions), not the fourth.

    python3 tests/e2e/backfill.py        # against a running stack with a champion (after make train)

Takes about 2 minutes on a 2-core machine (measured 119 s: seeding, the two backfills of 4 runs
each at once, the checks in the ml image). `run()` is the entry point for run_e2e.py.
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_e2e  # the driver in this folder: record, make, in_ml_image, ...)

ROWS = 100
#: Days well before yesterday: no schedule or parity run labels them.
DAYS_BACK = (12, 11, 10)
MISSING_BACK = 9


def backfill_days(today: date) -> tuple[list[date], date]:
    """Three days to seed and the missing day after them (consecutive, so one range covers all)."""
    return [today - timedelta(days=n) for n in DAYS_BACK], today - timedelta(days=MISSING_BACK)


def seed(template: str, days: list[date]) -> bool:
    """`python -m ml demo-data --no-labelled --rows 100` at each day's input URI, in one container."""
    uris = [template.replace("{ds}", d.isoformat()) for d in days]
    script = "\n".join(f"python -m ml demo-data --output-uri {shlex.quote(uri)} --no-labelled --rows {ROWS} "
                       f"--seed {20 + i}" for i, uri in enumerate(uris))
    proc = run_e2e.sh([*run_e2e.compose_cmd(), "run", "--rm", "--no-deps", "-T", "ml-cli", "sh", "-ec", script],
                      check=False, capture=True, timeout=900)
    return run_e2e.record(f"backfill: inputs seeded for {', '.join(d.isoformat() for d in days)}", proc.returncode == 0,
                          f"{len(uris)} x {ROWS} rows at {template}" if proc.returncode == 0 else f"exit {proc.returncode}")


def check_days(result: dict[str, Any], days: list[date], missing: date, template: str) -> None:
    """Per orchestrator: the seeded days succeeded at their stable location; the missing one failed alone."""
    for orchestrator in run_e2e.ORCHESTRATORS:
        backfill = (result.get("backfills") or {}).get(orchestrator) or {}
        by_day = {d["day"]: d for d in backfill.get("days", [])}
        good = [by_day.get(d.isoformat()) or {} for d in days]
        run_e2e.record(f"backfill {orchestrator}: {len(days)} seeded days labelled",
                       all(g.get("succeeded") and g.get("rows") == ROWS for g in good),
                       ", ".join(f"{g.get('day')}={g.get('state')}/{g.get('rows')}" for g in good))
        run_e2e.record(f"backfill {orchestrator}: each day at its stable location",
                       all(str(g.get("output_uri", "")).endswith(f"/daily/{d.isoformat()}/predictions.parquet")
                           for g, d in zip(good, days, strict=True)),
                       str(good[0].get("output_uri")))
        lost = by_day.get(missing.isoformat()) or {}
        reason = str(lost.get("error") or "")
        run_e2e.record(f"backfill {orchestrator}: the day without input fails alone with the step's reason",
                       lost.get("succeeded") is False and "error:" in reason
                       and template.replace("{ds}", missing.isoformat()) in reason and "\n" not in reason,
                       reason[:200])


def run() -> None:
    template = run_e2e.inference_template()
    days, missing = backfill_days(datetime.now(UTC).date())
    if seed(template, days):
        proc = run_e2e.make("backfill", f"FROM={days[0].isoformat()}", f"TO={missing.isoformat()}", timeout=1800)
        result = run_e2e.last_json(proc.stdout or "") or {}
        # the trigger exits 1 when a day failed; make then exits 2 (its own code for a failed recipe)
        run_e2e.record(f"make backfill FROM={days[0]} TO={missing} fails (one day has no input), with a JSON result",
                       proc.returncode != 0 and result.get("pipeline") == "backfill" and result.get("succeeded") is False,
                       f"exit {proc.returncode}, {len(result.get('backfills') or {})} backfills")
        if result.get("backfills"):
            check_days(result, days, missing, template)
            payload = {"result": result, "days": [d.isoformat() for d in days], "missing": missing.isoformat()}
            run_e2e.in_ml_image([], stdin=json.dumps(payload), timeout=900, script="backfill_checks.py")


if __name__ == "__main__":
    run_e2e.timed("backfill", run)
    for item in run_e2e.RESULTS["checks"]:
        print(f"{'PASS' if item['passed'] else 'FAIL'}  {item['name']}" + (f"  ({item['detail']})" if item["detail"] else ""))
    print(f"backfill phase: {run_e2e.RESULTS['phases'].get('backfill')} s")
    raise SystemExit(0 if all(c["passed"] for c in run_e2e.RESULTS["checks"]) else 1)

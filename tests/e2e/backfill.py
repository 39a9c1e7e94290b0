"""e2e phase "backfill": `make backfill` of three seeded days and one missing day, on both orchestrators at once.

Host side, standard library only (like the driver):
  1. seed three days of unlabelled demo texts at ML_INFERENCE_INPUT_TEMPLATE (100 rows each, one
     `docker compose run` of the ml image); the fourth day has no input;
  2. `make backfill FROM=<day 1> TO=<day 4>` as a user runs it (Airflow and Dagster at once):
     it fails (the trigger exits 1), the three days succeed on both orchestrators at their stable location
     (`.../daily/<day>/predictions.parquet`), the fourth fails alone with the step's one-line reason;
  3. in the ml image (in_image/backfill.py): per day, the two orchestrators' own staged
     predictions carry identical labels, and the stable file is whole and equals the staged file
     of the run that wrote it last (one of the two); Dagster shows the three days labelled (the
     partitions of daily/published_predictions), not the fourth.

    python3 -m tests.e2e.run --only backfill     # against a running stack with a champion

15 checks: 2 here, 3 per orchestrator, 7 in the image.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import stack
from .checklist import last_json

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
    proc = stack.seed_inputs(uris, ROWS, seed=20)
    return stack.record(f"backfill: inputs seeded for {', '.join(d.isoformat() for d in days)}", proc.returncode == 0,
                      f"{len(uris)} x {ROWS} rows at {template}" if proc.returncode == 0 else f"exit {proc.returncode}")


def check_days(result: dict[str, Any], days: list[date], missing: date, template: str) -> None:
    """Per orchestrator: the seeded days succeeded at their stable location; the missing one failed alone."""
    for orchestrator in stack.ORCHESTRATORS:
        backfill = (result.get("backfills") or {}).get(orchestrator) or {}
        by_day = {d["day"]: d for d in backfill.get("days", [])}
        good = [by_day.get(d.isoformat()) or {} for d in days]
        stack.record(f"backfill {orchestrator}: {len(days)} seeded days labelled",
                     all(g.get("succeeded") and g.get("rows") == ROWS for g in good),
                     ", ".join(f"{g.get('day')}={g.get('state')}/{g.get('rows')}" for g in good))
        stack.record(f"backfill {orchestrator}: each day at its stable location",
                     all(str(g.get("output_uri", "")).endswith(f"/daily/{d.isoformat()}/predictions.parquet")
                         for g, d in zip(good, days, strict=True)),
                     str(good[0].get("output_uri")))
        lost = by_day.get(missing.isoformat()) or {}
        reason = str(lost.get("error") or "")
        stack.record(f"backfill {orchestrator}: the day without input fails alone with the step's reason",
                     lost.get("succeeded") is False and "error:" in reason
                     and template.replace("{ds}", missing.isoformat()) in reason and "\n" not in reason,
                     reason[:200])


def run() -> None:
    template = stack.inference_template()
    days, missing = backfill_days(datetime.now(UTC).date())
    if seed(template, days):
        proc = stack.make("backfill", f"FROM={days[0].isoformat()}", f"TO={missing.isoformat()}", timeout=1800)
        result = last_json(proc.stdout or "") or {}
        # the trigger exits 1 when a day failed; make then exits 2 (its own code for a failed recipe)
        stack.record(f"make backfill FROM={days[0]} TO={missing} fails (one day has no input), with a JSON result",
                     proc.returncode != 0 and result.get("pipeline") == "backfill" and result.get("succeeded") is False,
                     f"exit {proc.returncode}, {len(result.get('backfills') or {})} backfills")
        if result.get("backfills"):
            check_days(result, days, missing, template)
            payload = {"result": result, "days": [d.isoformat() for d in days], "missing": missing.isoformat()}
            stack.in_ml_image("backfill", stdin=json.dumps(payload), timeout=900)

"""Orchestration overhead, measured live on a running compose stack (`make up` first).

One process run alternates three ways of running the same training pipeline on the same stack:
through Airflow (`make train`), through Dagster (`make train ORCHESTRATOR=dagster`), and the
baseline: the same five `ml` steps back to back, each in its own container of the ml image
(`docker compose run --rm ml-cli python -m ml <step>`), which is what DockerOperator does minus
the scheduler. Wall times are measured the same way for all three: from the trigger (or the first
container) to the last step's end, as seen by the caller. The result,
`bench/results/orchestration_live.json`, has the shape of `e2e.json` (`runs`), and
`bench/orchestration.py` prefers it to `e2e.json` when present.

    make up && .venv/bin/python -m bench.orchestration_live --repeats 2 && make bench BENCH_ARGS="--only orchestration"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from bench.common import RESULTS_DIR, ROOT


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "compose", *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          env=os.environ)


def _last_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"no JSON line in: {stdout[-500:]}")
    return json.loads(lines[-1])


def _step(step: str, run_id: str, **options: Any) -> tuple[dict[str, Any], float]:
    argv = ["run", "--rm", "--no-deps", "ml-cli", "python", "-m", "ml", step, "--run-id", run_id,
            "--orchestrator", "docker-run"]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    started = time.perf_counter()
    done = _compose(*argv)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{step} failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return _last_json(done.stdout), seconds


def docker_run_baseline() -> dict[str, Any]:
    """The training steps back to back, one container each, outputs wired as the spec wires them."""
    from ml.pipelines.embedded import step_kwargs
    from ml.pipelines.spec import pipeline

    spec = pipeline("training")
    run_id = f"docker-run-{uuid.uuid4().hex[:10]}"
    params = {"dataset_uri": os.environ.get("ML_DATASET_URI", "s3://datasets/demo/train.csv")}
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for step in spec.steps:
        results[step.name], seconds[step.name] = _step(step.name, run_id, **step_kwargs(step, params, results, {}))
    wall = time.perf_counter() - started
    return {"orchestrator": "docker-run", "pipeline": spec.command, "run_id": run_id, "succeeded": True,
            "wall_s": round(wall, 2), "steps": {name: {"duration_s": round(sec, 2)} for name, sec in seconds.items()}}


def orchestrated(orchestrator: str) -> dict[str, Any]:
    """`make train ORCHESTRATOR=...` as a user runs it; its wall time comes from the trigger client."""
    done = _compose("run", "--rm", "--no-deps", "trigger", "python", "-m", "ml_trigger", "train",
                    "--orchestrator", orchestrator, "--json")
    if done.returncode != 0:
        raise RuntimeError(f"{orchestrator} training failed: {done.stderr.strip().splitlines()[-3:]}")
    out = _last_json(done.stdout)
    out["steps"] = {name: {"duration_s": info.get("duration_s")} for name, info in (out.get("steps") or {}).items()}
    return {k: out[k] for k in ("orchestrator", "pipeline", "run_id", "succeeded", "wall_s", "steps")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.orchestration_live", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds of (airflow, dagster, docker-run)")
    args = parser.parse_args(argv)
    if _compose("ps", "--status", "running", "-q", "airflow-scheduler").stdout.strip() == "":
        print("error: the compose stack is not running; run `make up` first", file=sys.stderr)
        return 2
    runs: list[dict[str, Any]] = []
    for round_no in range(args.repeats):
        jobs = [lambda: orchestrated("airflow"), lambda: orchestrated("dagster"), docker_run_baseline]
        for job in jobs if round_no % 2 == 0 else jobs[::-1]:
            result = job()
            runs.append(result)
            print(f"{result['orchestrator']}: {result['wall_s']:.1f} s", file=sys.stderr)
    path = RESULTS_DIR / "orchestration_live.json"
    path.write_text(json.dumps({"source": "python -m bench.orchestration_live", "runs": runs}, indent=1))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

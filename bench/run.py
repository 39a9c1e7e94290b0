"""`make bench`: every benchmark, its JSON under bench/results/, then docs/benchmarks.md.

Order matters once: training runs first and hands its ml-trained MiniLM to the inference
benchmark, so the int8 accuracy cost is measured on a real classifier, not a random head.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.common import Result, Row, log, machine_info, now, quiet_libraries, set_threads, write_result

NAMES = ("training", "inference_cpu", "inference_memory", "orchestration")


def _guarded(name: str, title: str, call: Callable[[], Result]) -> Result:
    """One benchmark failing must not lose the others: its row then says why."""
    started = time.perf_counter()
    try:
        return call()
    except Exception as exc:
        traceback.print_exc()
        return Result(name=name, title=title, started_at=now(), machine=machine_info(),
                      rows=[Row(title, "—", "—", "—", None, "—", None, f"failed: {type(exc).__name__}: {exc}")],
                      seconds=round(time.perf_counter() - started, 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (stated in the tables)")
    parser.add_argument("--only", action="append", choices=NAMES, help="run only these (repeatable)")
    parser.add_argument("--threads", type=int, default=-1,
                        help="torch threads for both sides: N, 0 = torch default, -1 = auto (1 when oversubscribed)")
    args = parser.parse_args(argv)
    quiet_libraries()
    set_threads(args.threads)
    selected = args.only or list(NAMES)

    from bench import inference_cpu, inference_memory, orchestration, report, training

    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        trained = Path(tmp) / "ml-trained"
        if "training" in selected:
            log("== training")
            result = _guarded("training", "Training, CPU", lambda: training.run(args.quick, keep_model=trained))
            log(f"wrote {write_result(result)}")
        if "inference_cpu" in selected:
            log("== inference_cpu")
            model_dir = trained if (trained / "config.json").is_file() else None
            result = _guarded("inference_cpu", "Batch inference, CPU", lambda: inference_cpu.run(args.quick, model_dir))
            log(f"wrote {write_result(result)}")
    if "inference_memory" in selected:
        log("== inference_memory")
        result = _guarded("inference_memory", "Inference memory (predict step)", lambda: inference_memory.run(args.quick))
        log(f"wrote {write_result(result)}")
    if "orchestration" in selected:
        log("== orchestration")
        result = _guarded("orchestration", "Orchestration overhead (compose stack)", lambda: orchestration.run(args.quick))
        log(f"wrote {write_result(result)}")
    log(f"wrote {report.write_doc()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

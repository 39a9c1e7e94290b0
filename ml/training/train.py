"""The fine-tuning loop: AdamW with warmup and linear decay, clipping, early stopping.

Why our own loop rather than `transformers.Trainer`: length-grouped batches with dynamic padding,
bf16 autocast where the hardware multiplies bf16 natively (ml.model.precision) and per-epoch validation
on the same fast inference path cost less time per sample (see `make bench`), and the loop stays
small enough to read in one sitting.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml.core import progress
from ml.inference.predict import predict_probs
from ml.model import batching
from ml.model.precision import autocast
from ml.training.metrics import classification_metrics

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from ml.model.precision import Precision

log = logging.getLogger(__name__)

TRAIN_HEAP_TRIM_THRESHOLD = 256 << 20  # above a step's freed activations and gradients, so none is re-faulted


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    learning_rate: float
    batch_size: int
    max_length: int
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    patience: int
    seed: int
    eval_max_tokens: int = 8192
    min_steps: int = 0


@dataclass(frozen=True)
class EpochPlan:
    """How long `fit` trains: at most `epochs`, and early stopping only from `min_epochs` on."""

    epochs: int
    min_epochs: int
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def stops_early(self, epoch: int, stale: int, patience: int) -> bool:
        """Early stop after `epoch`: patience used up, the minimum done, and epochs still left to skip."""
        return stale >= patience and self.min_epochs <= epoch < self.epochs


def plan_epochs(rows: int, batch_size: int, epochs: int, min_steps: int) -> EpochPlan:
    """The epochs to run so that training takes at least `min_steps` optimiser steps.

    Why: a few hundred rows make a few optimiser steps per epoch, too few for a model trained from
    scratch (`tiny`) to leave its initial plateau, and early stopping would end it on that plateau.
    """
    steps_per_epoch = max(1, -(-rows // batch_size))
    min_epochs = max(1, -(-min_steps // steps_per_epoch))
    plan = EpochPlan(epochs=max(epochs, min_epochs), min_epochs=min_epochs, steps_per_epoch=steps_per_epoch)
    if plan.epochs > epochs:
        log.info("%d rows at batch size %d make %d optimiser steps per epoch; %d epochs would give %d < "
                 "ML_MIN_TRAIN_STEPS %d: training %d epochs", rows, batch_size, steps_per_epoch, epochs,
                 epochs * steps_per_epoch, min_steps, plan.epochs)
    return plan


@dataclass
class FitResult:
    best_epoch: int
    epochs_run: int
    epochs_planned: int
    best_metrics: dict[str, float]
    train_seconds: float = 0.0
    samples_per_second: float = 0.0


def seed_everything(seed: int) -> None:
    """Same seed, same metrics on CPU: Python, NumPy and torch generators all start from it."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _optimizer(model: PreTrainedModel, params: TrainParams) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and normalisation weights (standard for transformers).

    Fused (one kernel over all tensors) where torch has it: on CPU the default per-tensor update
    took a quarter of a bf16 step (`make bench`), the fused one a twelfth.
    """
    import torch

    decay, no_decay = [], []
    for name, weight in model.named_parameters():
        if not weight.requires_grad:
            continue
        (no_decay if weight.ndim < 2 or "LayerNorm" in name or name.endswith(".bias") else decay).append(weight)
    groups = [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = all(w.device.type in ("cpu", "cuda") for w in decay + no_decay)
    return torch.optim.AdamW(groups, lr=params.learning_rate, fused=fused)


def clip_gradients(weights: list[torch.Tensor], max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_`, bit for bit, without its multiply by 1.0 when the total
    norm is already within `max_norm` (a pass over every gradient that changes none of them)."""
    import torch

    grads = [w.grad for w in weights if w.grad is not None]
    if not grads:
        return
    norm = torch.nn.utils.get_total_norm(grads)
    if float(torch.clamp(max_norm / (norm + 1e-6), max=1.0)) < 1.0:  # clip_grad_norm_'s own coefficient
        torch.nn.utils.clip_grads_with_norm_(weights, max_norm, norm)


def _scheduler(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup to the peak rate, then linear decay to zero."""
    import torch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def evaluate_split(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], y: list[int], labels: list[str],
    max_length: int, max_tokens: int, prefix: str,
) -> dict[str, float]:
    import numpy as np

    probs = predict_probs(model, tokenizer, texts, max_length, max_tokens)
    return classification_metrics(np.asarray(y), probs.argmax(axis=1), labels, prefix=prefix)


def fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: tuple[list[str], list[int]],
    validation: tuple[list[str], list[int]],
    labels: list[str],
    params: TrainParams,
    device: torch.device,
    precision: Precision,
    on_epoch: Callable[[int, dict[str, float]], None] = lambda epoch, metrics: None,
) -> FitResult:
    """Train `model` in place and leave it holding the weights of its best validation epoch.

    `precision` is a resolved one (ml.model.precision.resolve_precision): bf16 runs the forward passes,
    validation included, under bf16 autocast; weights, gradients and AdamW stay fp32.
    """
    import torch

    from ml.core import heap

    # Freed tensors (the dense embedding gradient of every step included) reused from the heap
    # instead of mapped and faulted in afresh each step; the cache is bounded (ml.heap).
    heap.reuse_freed_memory(mmap=False, trim_threshold=TRAIN_HEAP_TRIM_THRESHOLD)
    seed_everything(params.seed)
    model.to(device).train()
    token_ids = batching.tokenize(tokenizer, train[0], params.max_length)
    lengths = [len(ids) for ids in token_ids]
    targets = torch.tensor(train[1], dtype=torch.long)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    plan = plan_epochs(len(token_ids), params.batch_size, params.epochs, params.min_steps)
    optimizer = _optimizer(model, params)
    trainable = [w for w in model.parameters() if w.requires_grad]
    scheduler = _scheduler(optimizer, int(plan.total_steps * params.warmup_ratio), plan.total_steps)

    result = FitResult(best_epoch=0, epochs_run=0, epochs_planned=plan.epochs, best_metrics={})
    best_state: dict[str, torch.Tensor] | None = None
    best_score = -1.0
    stale = 0
    started = time.perf_counter()
    for epoch in range(1, plan.epochs + 1):
        model.train()
        epoch_loss, seen = 0.0, 0
        batches = batching.length_grouped_batches(lengths, params.batch_size, seed=params.seed + epoch)
        with progress.bar(len(batches), f"epoch {epoch}/{plan.epochs}", unit="batch") as bar:
            for rows in batches:
                input_ids, mask = batching.collate([token_ids[i] for i in rows], pad_id)
                with autocast(precision, device):
                    logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), targets[rows].to(device))
                loss.backward()
                clip_gradients(trainable, params.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                epoch_loss += loss.item() * len(rows)
                seen += len(rows)
                bar.update(1)
                bar.set_postfix(loss=f"{epoch_loss / seen:.4f}", refresh=False)
        model.eval()
        metrics = {"train_loss": epoch_loss / max(seen, 1), "learning_rate": scheduler.get_last_lr()[0]}
        with autocast(precision, device):
            metrics.update(
                evaluate_split(model, tokenizer, *validation, labels, params.max_length, params.eval_max_tokens, "val_")
            )
        result.epochs_run = epoch
        on_epoch(epoch, metrics)
        log.info("epoch %d: train_loss=%.4f val_accuracy=%.4f val_macro_f1=%.4f", epoch, metrics["train_loss"],
                 metrics["val_accuracy"], metrics["val_macro_f1"])
        if metrics["val_macro_f1"] > best_score:
            best_score, stale = metrics["val_macro_f1"], 0
            result.best_epoch, result.best_metrics = epoch, metrics
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            stale += 1
            if plan.stops_early(epoch, stale, params.patience):
                log.info("early stopping after epoch %d of %d: no validation gain for %d epochs", epoch, plan.epochs, stale)
                break
    result.train_seconds = time.perf_counter() - started
    result.samples_per_second = len(token_ids) * result.epochs_run / max(result.train_seconds, 1e-9)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result

"""The machine's own limit: its measured matrix-multiply peak, and the model FLOPs of real tokens.

Why measure the peak in the same run: a ratio against the Hugging Face pipeline says how much
faster ml is than what users write, not how far it is from what the CPU can do. Dividing the model
FLOPs of the real (unpadded) tokens by the wall time, and that by the GEMM rate this very machine
reached a moment before with the same torch threads, gives a fraction that means the same on a
2-core AMD EPYC and on an AMX Xeon, however loaded either is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

SQUARE = 1024
GEMM_TOKENS = 2048  # rows of the model-shaped GEMMs: about one inference batch under the token budget


def forward_flops(config: Any, lengths: Sequence[int]) -> int:
    """FLOPs of one forward pass of a BERT-like encoder over texts of `lengths` real tokens.

    Per token and layer: the Q, K, V and output projections (4 H x H) and the feed-forward pair
    (2 H x I), 2 FLOPs per multiply-add; per text and layer: Q K^T and the weighted sum of V over
    its own tokens (2 x 2 n^2 H); per text: the pooler (H x H) and the classifier (H x labels).
    Padding is not counted: it is work that does not have to be done.
    """
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    labels = getattr(config, "num_labels", 2)
    per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner)
    attention = sum(4 * layers * hidden * n * n for n in lengths)
    head = 2 * (hidden * hidden + hidden * labels)
    return per_token * sum(lengths) + attention + head * len(lengths)


def training_flops(config: Any, lengths: Sequence[int]) -> int:
    """A training step's FLOPs: the forward pass and a backward pass of twice its cost."""
    return 3 * forward_flops(config, lengths)


def gemm_shapes(config: Any, tokens: int = GEMM_TOKENS, square: int = SQUARE) -> dict[str, tuple[int, int, int]]:
    """(M, K, N) of the model's own matrix multiplies for `tokens` rows, and one square GEMM."""
    hidden, inner = config.hidden_size, config.intermediate_size
    return {f"{tokens}x{hidden} @ {hidden}x{hidden} (attention projections)": (tokens, hidden, hidden),
            f"{tokens}x{hidden} @ {hidden}x{inner} (feed-forward in)": (tokens, hidden, inner),
            f"{tokens}x{inner} @ {inner}x{hidden} (feed-forward out)": (tokens, inner, hidden),
            f"{square}x{square} @ {square}x{square} (square)": (square, square, square)}


class GemmMeter:
    """GEMM throughput per shape in one dtype, with the torch threads in force.

    The operands are made once; `measure` times back-to-back `torch.nn.functional.linear` calls
    (the call the model's layers make, weights stored N x K) for `seconds` per shape, in wall time
    and in this process's CPU time, the same clocks the sides it is compared with are timed by.
    """

    def __init__(self, shapes: dict[str, tuple[int, int, int]], dtype: Any, seconds: float = 0.2) -> None:
        import torch

        generator = torch.Generator().manual_seed(0)
        self.operands = {name: (torch.randn(m, k, generator=generator).to(dtype),
                                torch.randn(n, k, generator=generator).to(dtype))
                         for name, (m, k, n) in shapes.items()}
        self.flops = {name: 2 * m * k * n for name, (m, k, n) in shapes.items()}
        self.seconds = seconds

    def measure(self) -> dict[str, dict[str, float]]:
        """{"wall": GFLOP/s per shape, "cpu": GFLOP per CPU second per shape}."""
        import torch

        rates: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
        with torch.inference_mode():
            for name, (a, w) in self.operands.items():
                torch.nn.functional.linear(a, w)  # warm-up: oneDNN picks and caches its kernel
                calls, started, started_cpu = 0, time.perf_counter(), time.process_time()
                while time.perf_counter() - started < self.seconds:
                    torch.nn.functional.linear(a, w)
                    calls += 1
                wall, cpu = time.perf_counter() - started, time.process_time() - started_cpu
                rates["wall"][name] = self.flops[name] * calls / wall / 1e9
                rates["cpu"][name] = self.flops[name] * calls / max(cpu, 1e-9) / 1e9
        return rates


def peak_sides(config: Any, dtypes: dict[str, Any]) -> tuple[dict[str, Callable[[], Any]], dict[str, list[Any]]]:
    """Sides for `bench.common.alternate` that measure the GEMM peak in each dtype, interleaved
    with the sides they are a fraction of; the second value collects every repeat's rates."""
    shapes = gemm_shapes(config)
    runs: dict[str, list[Any]] = {name: [] for name in dtypes}
    sides: dict[str, Callable[[], Any]] = {}
    for name, dtype in dtypes.items():
        meter = GemmMeter(shapes, dtype)

        def side(meter: GemmMeter = meter, name: str = name) -> Any:
            rates = meter.measure()
            runs[name].append(rates)
            return rates

        sides[f"gemm_peak_{name}"] = side
    return sides, runs


def clock() -> str:
    """Which clock a fraction uses: a process's CPU seconds when torch runs one thread (the time
    the work had a core, whatever other tenants do), wall seconds otherwise (with several threads,
    CPU time would also count the spin-waits at each op's barrier)."""
    import torch

    return "cpu" if torch.get_num_threads() == 1 else "wall"


def summarise(runs: list[dict[str, dict[str, float]]], which: str) -> dict[str, Any]:
    """Per-repeat peak (best shape) on clock `which`, their median, and every shape's median rate."""
    import statistics

    per_repeat = [round(max(rates[which].values()), 1) for rates in runs]
    shapes = {name: round(statistics.median(r[which][name] for r in runs), 1) for name in runs[0][which]} if runs else {}
    return {"gflops": round(statistics.median(per_repeat), 1) if per_repeat else None, "clock": which,
            "per_repeat": per_repeat, "by_shape": shapes}


def fractions(flops: int, seconds: list[float], peaks: list[float]) -> dict[str, Any]:
    """Achieved GFLOP/s (median over repeats) and its fraction of the peak measured in the same repeat."""
    import statistics

    achieved = [flops / s / 1e9 for s in seconds if s > 0]
    paired = [a / p for a, p in zip(achieved, peaks, strict=False) if p]
    return {"achieved_gflops": round(statistics.median(achieved), 1) if achieved else None,
            "fraction_of_gemm_peak": round(statistics.median(paired), 4) if paired else None,
            "fractions": [round(f, 4) for f in paired]}


def fmt_fraction(entry: dict[str, Any] | None, peak: dict[str, Any] | None, dtype: str) -> str:
    """'52 % (456 of 880 GFLOP/s, bf16 GEMM peak)' for a table cell."""
    if not entry or entry.get("fraction_of_gemm_peak") is None or not peak:
        return "—"
    return (f"{entry['fraction_of_gemm_peak']:.0%} ({entry['achieved_gflops']:.0f} of {peak['gflops']:.0f} "
            f"GFLOP/s, {dtype} GEMM peak)")

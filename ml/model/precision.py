"""Which arithmetic a step runs in: `ML_PRECISION=auto|fp32|bf16`, resolved in one place.

Why `auto` is not simply bf16 everywhere: bf16 only pays where the hardware multiplies bf16
matrices natively (CUDA GPUs with bf16 support; CPUs with AMX or AVX512-BF16). Elsewhere torch
emulates it by converting to fp32 around every matrix multiply, which is slower than fp32 itself.
What bf16 means per use: inference casts the weights to bf16 (`apply_for_inference`); training
keeps fp32 master weights and runs the forward pass under bf16 autocast (`autocast`).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ml.core.errors import BadInputError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None, capability: str | None = None) -> bool:
    """True when this CPU multiplies bf16 natively (AMX or AVX512-BF16), per cpuinfo or torch.

    torch's dispatch capability (`torch.backends.cpu.get_cpu_capability()`) names the widest
    vector ISA its kernels use; builds that know AMX/BF16 name it there, others only say AVX512,
    so the kernel's flags decide when the capability does not mention bf16.
    """
    if capability is None:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    if any(word in capability.upper() for word in ("AMX", "BF16")):
        return True
    return bool(set(CPU_BF16_FLAGS) & (cpu_flags() if flags is None else flags))


def cpu_bf16_unit(flags: set[str] | None = None) -> str | None:
    """The bf16 matrix unit this CPU has per cpuinfo: "AMX", "AVX512-BF16" or None.

    `auto` treats both units alike: bf16 weights for inference, bf16 autocast over fp32 master
    weights for training. The benchmarks record the unit next to every figure (bench.levers
    measures bf16 weights against autocast on the machine of the run).
    """
    flags = cpu_flags() if flags is None else flags
    if "amx_bf16" in flags:
        return "AMX"
    return "AVX512-BF16" if "avx512_bf16" in flags else None


def cuda_has_bf16() -> bool:
    """bf16 tensor cores (Ampere and later); emulated or absent on older GPUs."""
    import torch

    return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """`auto` = bf16 where the device has native bf16 matrix units, else fp32; explicit values are kept.

    `bf16` on a CUDA device without bf16 is a bad input (it would fail or be emulated there);
    `bf16` on a CPU without native support runs (torch emulates it, slower) with a warning, so a
    user can still check bf16 results on any machine.
    """
    if requested not in ("auto", "fp32", "bf16"):
        raise BadInputError(f"invalid setting ML_PRECISION={requested!r}: use auto, fp32 or bf16")
    if requested == "fp32":
        return "fp32"
    if device.type == "cuda":
        native = cuda_has_bf16()
        if requested == "bf16" and not native:
            raise BadInputError("ML_PRECISION=bf16 but this CUDA device has no bf16 support; use ML_PRECISION=auto or fp32")
        return "bf16" if native else "fp32"
    if device.type != "cpu":
        if requested == "bf16":
            raise BadInputError(f"ML_PRECISION=bf16 is not supported on device {device.type}; use auto or fp32")
        return "fp32"
    native = cpu_has_native_bf16()
    if requested == "bf16":
        if not native:
            log.warning("ML_PRECISION=bf16 on a CPU without AMX or AVX512-BF16: torch emulates bf16, "
                        "slower than fp32 (ML_PRECISION=auto picks fp32 here)")
        return "bf16"
    return "bf16" if native else "fp32"


def torch_dtype(precision: Precision) -> torch.dtype:
    """The weights' dtype of a resolved precision (anything else is a bug: KeyError)."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]


def apply_for_inference(model: PreTrainedModel, precision: Precision) -> PreTrainedModel:
    """Cast the weights for inference (bf16 halves the bytes each matrix multiply reads)."""
    return model.to(torch_dtype(precision))


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Training forward pass: bf16 autocast (fp32 master weights and optimizer) or nothing."""
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

"""bf16 inference on CPU: every linear layer's weights packed once for oneDNN, at load time.

Why: torch runs a bf16 linear layer on CPU through oneDNN, which first reorders the weight matrix
into its blocked layout, on every call. For the short batches of sentence classification that
reorder is a sizeable share of each matrix multiply. Packing once (what torch.compile's freezing
pass does for the layers it compiles) removes it and leaves the arithmetic as it was: the packed
layer gives bitwise the outputs of `torch.nn.Linear`. The gain is measured by `make bench`
(bench.levers); where oneDNN or its ops are absent the layers stay as they are.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def can_pack(model: torch.nn.Module) -> bool:
    """bf16 weights on the CPU, and a torch build with oneDNN's packed linear ops."""
    import torch

    first = next(model.parameters(), None)
    return (first is not None and first.device.type == "cpu" and first.dtype == torch.bfloat16
            and torch.backends.mkldnn.is_available() and _ops_available())


def _ops_available() -> bool:
    import torch

    try:
        return callable(torch.ops.mkldnn._reorder_linear_weight) and callable(torch.ops.mkldnn._linear_pointwise)
    except (AttributeError, RuntimeError):
        return False


class PackedForward:
    """A linear layer's forward on its packed weights (inference only: the op has no backward).

    Picklable and deep-copyable (MLflow pickles a loaded pyfunc model, tests copy models): the
    packed copy, an opaque oneDNN tensor, is left out and made again at the next call.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight, self.bias = weight, bias
        self.packed: torch.Tensor | None = None

    def pack(self) -> None:
        import torch

        self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight, None)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        if self.packed is None:
            self.pack()
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def __getstate__(self) -> dict[str, Any]:
        return {"weight": self.weight, "bias": self.bias, "packed": None}


def pack_linear_weights(model: torch.nn.Module) -> int:
    """Pack the weights of every `torch.nn.Linear` of an inference model in place; returns how many.

    The layers keep their `weight` (state_dict, saving and reading it are unchanged); only their
    forward uses the packed copy. Nothing is packed where `can_pack` says no.
    """
    import torch

    if not can_pack(model):
        return 0
    packed = 0
    with torch.no_grad():
        for module in model.modules():
            if type(module) is torch.nn.Linear and module.weight.dtype == torch.bfloat16:
                forward = PackedForward(module.weight.detach(), module.bias.detach() if module.bias is not None else None)
                forward.pack()
                module.forward = forward  # type: ignore[method-assign]
                packed += 1
    log.debug("packed the weights of %d linear layers for oneDNN", packed)
    return packed


def unpack_linear_weights(model: torch.nn.Module) -> None:
    """Back to `torch.nn.Linear.forward` (before training or moving a packed model)."""
    import torch

    for module in model.modules():
        if type(module) is torch.nn.Linear and "forward" in module.__dict__:
            del module.forward

"""Performance against the machine's own limit (issue 27): model FLOPs, the GEMM meter, `auto` per CPU kind,
and the predict step's allocator rule."""

from __future__ import annotations

import types

import numpy as np
import pytest

from ml.model import precision

torch = pytest.importorskip("torch")
CPU = torch.device("cpu")

BERT = types.SimpleNamespace(hidden_size=4, intermediate_size=8, num_hidden_layers=2, num_labels=3)
AMX = {"avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
AVX512_BF16 = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"}  # AMD EPYC (Zen 4/5)
AVX2 = {"avx2", "fma"}


def test_forward_flops_count_real_tokens_layers_attention_and_head() -> None:
    from bench.peak import forward_flops, training_flops

    # per token: 2 layers x 2 FLOPs x (4*4*4 + 2*4*8) = 512; attention 4*2*4*n^2 per text; head 2*(16+12) per text
    assert forward_flops(BERT, [3]) == 512 * 3 + 32 * 9 + 56
    assert forward_flops(BERT, [3, 1]) == 512 * 4 + 32 * 10 + 2 * 56
    assert training_flops(BERT, [3, 1]) == 3 * forward_flops(BERT, [3, 1])
    assert forward_flops(BERT, []) == 0


def test_gemm_meter_measures_every_model_shape_on_both_clocks() -> None:
    from bench.peak import GemmMeter, gemm_shapes, summarise

    assert sorted(gemm_shapes(BERT, tokens=16, square=8).values()) == sorted([(16, 4, 4), (16, 4, 8), (16, 8, 4),
                                                                               (8, 8, 8)])
    shapes = gemm_shapes(types.SimpleNamespace(hidden_size=64, intermediate_size=128), tokens=128, square=128)
    rates = GemmMeter(shapes, torch.float32, seconds=0.01).measure()
    assert set(rates) == {"wall", "cpu"} and all(set(r) == set(shapes) for r in rates.values())
    assert all(v > 0 for r in rates.values() for v in r.values())
    summary = summarise([rates, rates], "wall")
    assert summary["gflops"] == round(max(rates["wall"].values()), 1) and summary["per_repeat"] == [summary["gflops"]] * 2


def test_fraction_pairs_each_repeat_with_the_peak_measured_in_it() -> None:
    from bench.peak import fractions

    out = fractions(10 * 10**9, [1.0, 2.0, 4.0], [20.0, 10.0, 2.5])
    assert out["fractions"] == [0.5, 0.5, 1.0]
    assert out["fraction_of_gemm_peak"] == 0.5 and out["achieved_gflops"] == 5.0


@pytest.mark.parametrize(("flags", "unit", "auto"), [(AMX, "AMX", "bf16"), (AVX512_BF16, "AVX512-BF16", "bf16"),
                                                     (AVX2, None, "fp32")])
def test_auto_per_cpu_kind(monkeypatch: pytest.MonkeyPatch, flags: set[str], unit: str | None, auto: str) -> None:
    """The same rule on AMX Xeons and AVX512-BF16-only EPYCs: bf16 weights for inference, autocast for training."""
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo=None: set(flags))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512" if "avx512f" in flags else "AVX2")
    assert precision.cpu_bf16_unit() == unit
    resolved = precision.resolve_precision("auto", CPU)
    assert resolved == auto
    layer = precision.apply_for_inference(torch.nn.Linear(4, 2), resolved)
    assert layer.weight.dtype == precision.torch_dtype(auto)
    with precision.autocast(resolved, CPU):
        out = torch.nn.Linear(4, 2)(torch.ones(1, 4))
    assert out.dtype == precision.torch_dtype(auto)


def test_allocator_rule_keeps_predictions_and_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.inference import predict
    from ml.model import modeling

    model, tokenizer = modeling.build_tiny(["good day", "bad day", "a long and rather good day"], ["n", "p"], 32, 0)
    model.eval()
    texts = ["good day", "bad day", "a long and rather good day", "day"] * 5
    before = predict.predict_probs(model, tokenizer, texts, 32)
    predict.release_freed_memory()
    predict.trim_freed_memory()
    after = predict.predict_probs(model, tokenizer, texts, 32)
    assert np.array_equal(before, after)
    from ml.core import heap

    assert heap.reuse_freed_memory(mmap=False) is (heap._glibc() is not None)  # the training rule
    assert np.array_equal(predict.predict_probs(model, tokenizer, texts, 32), before)
    monkeypatch.setattr("sys.platform", "darwin")
    assert heap._glibc() is None and heap.reuse_freed_memory() is False
    predict.release_freed_memory()  # nothing to tune, no error
    predict.trim_freed_memory()
    monkeypatch.undo()
    heap.reuse_freed_memory()  # back to the inference rule for the tests after this one


def test_packed_bf16_linear_layers_give_the_same_outputs_bit_for_bit() -> None:
    import copy

    from ml.inference.predict import predict_probs
    from ml.model import modeling
    from ml.model.cpu_packing import can_pack, unpack_linear_weights

    model, tokenizer = modeling.build_tiny(["good day", "bad day", "a rather long and good day"], ["n", "p"], 32, 0)
    texts = ["good day", "bad day", "a rather long and good day", "day", "bad"] * 4
    plain = modeling.prepare_for_inference(copy.deepcopy(model), CPU, "fp32").to(torch.bfloat16)
    linears = sum(type(m) is torch.nn.Linear for m in plain.modules())
    if not can_pack(plain):
        pytest.skip("this torch build has no oneDNN packed linear ops")
    expected = predict_probs(plain, tokenizer, texts, 32)
    packed = modeling.prepare_for_inference(copy.deepcopy(model), CPU, "bf16")
    assert sum("forward" in m.__dict__ for m in packed.modules()) == linears
    assert np.array_equal(predict_probs(packed, tokenizer, texts, 32), expected)
    assert packed.state_dict().keys() == plain.state_dict().keys()
    import pickle

    for copied in (copy.deepcopy(packed), pickle.loads(pickle.dumps(packed))):  # MLflow pickles loaded pyfunc models
        assert np.array_equal(predict_probs(copied, tokenizer, texts, 32), expected)
    unpack_linear_weights(packed)
    assert not any("forward" in m.__dict__ for m in packed.modules())
    assert np.array_equal(predict_probs(packed, tokenizer, texts, 32), expected)


def test_fp32_layers_are_not_packed() -> None:
    from ml.model import modeling
    from ml.model.cpu_packing import pack_linear_weights

    model, _ = modeling.build_tiny(["good day", "bad day"], ["n", "p"], 32, 0)
    assert pack_linear_weights(model.eval()) == 0
    fp32 = modeling.prepare_for_inference(model, CPU, "fp32")
    assert not any("forward" in m.__dict__ for m in fp32.modules())


@pytest.mark.parametrize("scale", [1e-3, 1.0, 100.0])
def test_clip_gradients_is_clip_grad_norm_bit_for_bit(scale: float) -> None:
    from ml.training.train import clip_gradients

    generator = torch.Generator().manual_seed(0)
    ours = [torch.nn.Parameter(torch.zeros(5, 3)), torch.nn.Parameter(torch.zeros(7)), torch.nn.Parameter(torch.zeros(2))]
    for w in ours[:2]:
        w.grad = torch.randn(w.shape, generator=generator) * scale
    theirs = [torch.nn.Parameter(w.detach().clone()) for w in ours]
    for a, b in zip(ours, theirs, strict=True):
        b.grad = None if a.grad is None else a.grad.clone()
    clip_gradients(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for a, b in zip(ours[:2], theirs[:2], strict=True):
        assert torch.equal(a.grad, b.grad)
    assert ours[2].grad is None

"""ML_PRECISION (issue 18): the resolver, bf16 predictions against fp32, and where the precision is recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.core.errors import EXIT_BAD_INPUT, BadInputError
from ml.model import precision
from tests.ml.cli_helpers import error_line, run_cli

torch = pytest.importorskip("torch")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def plain_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without AMX or AVX512-BF16, whatever this machine has."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda flags=None, capability=None: False)


def test_auto_on_a_cpu_without_native_bf16_is_fp32(plain_cpu) -> None:
    assert precision.resolve_precision("auto", CPU) == "fp32"


def test_auto_on_a_cpu_with_native_bf16_is_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda flags=None, capability=None: True)
    assert precision.resolve_precision("auto", CPU) == "bf16"


def test_explicit_values_are_kept_on_cpu(plain_cpu, caplog: pytest.LogCaptureFixture) -> None:
    assert precision.resolve_precision("fp32", CPU) == "fp32"
    assert precision.resolve_precision("bf16", CPU) == "bf16"
    assert "emulates bf16" in caplog.text


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_the_gpus_bf16_support(monkeypatch: pytest.MonkeyPatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(precision, "cuda_has_bf16", lambda: native)
    assert precision.resolve_precision("auto", CUDA) == expected
    assert precision.resolve_precision("fp32", CUDA) == "fp32"


def test_bf16_on_a_gpu_without_bf16_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cuda_has_bf16", lambda: False)
    with pytest.raises(BadInputError, match="ML_PRECISION=bf16 but this CUDA device has no bf16"):
        precision.resolve_precision("bf16", CUDA)


@pytest.mark.parametrize(
    ("flags", "capability", "native"),
    [
        ({"avx2", "fma"}, "AVX2", False),
        ({"avx512f", "avx512bw"}, "AVX512", False),
        ({"avx512f", "avx512_bf16"}, "AVX512", True),
        ({"avx512f", "amx_tile", "amx_bf16"}, "AVX512", True),
        (set(), "AMX_BF16", True),
    ],
)
def test_native_cpu_bf16_from_cpuinfo_flags_or_torch_capability(flags: set[str], capability: str, native: bool) -> None:
    assert precision.cpu_has_native_bf16(flags, capability) is native


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert precision.cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert precision.cpu_flags(tmp_path / "absent") == set()


def test_unknown_precision_is_one_line_exit_2(local_env: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_PRECISION", "bf17")
    code, _, err = run_cli(capsys, "settings")
    assert code == EXIT_BAD_INPUT
    assert "invalid setting ML_PRECISION='bf17'" in error_line(err)


def test_precision_is_documented_and_shown_by_settings(local_env: Path, capsys) -> None:
    import json

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert "| `ML_PRECISION` | `auto` |" in readme
    code, out, _ = run_cli(capsys, "settings")
    assert code == 0 and json.loads(out.splitlines()[-1])["precision"] == "auto"


def test_bf16_predictions_agree_with_fp32_on_a_trained_tiny_model() -> None:
    import copy

    from ml.data import demo
    from ml.inference.predict import predict_probs
    from ml.model import modeling
    from ml.training.train import TrainParams, fit

    rows = demo.rows(400, seed=11)
    texts, names = [r["text"] for r in rows], [r["label"] for r in rows]
    labels = sorted(set(names))
    y = [labels.index(n) for n in names]
    model, tokenizer = modeling.build_tiny(texts, labels, 64, seed=0)
    params = TrainParams(epochs=2, learning_rate=1e-3, batch_size=16, max_length=64, warmup_ratio=0.1,
                         weight_decay=0.01, max_grad_norm=1.0, patience=2, seed=0)
    fit(model, tokenizer, (texts[:300], y[:300]), (texts[300:], y[300:]), labels, params, CPU, "fp32")
    fp32 = modeling.prepare_for_inference(copy.deepcopy(model), CPU, "fp32")
    bf16 = modeling.prepare_for_inference(copy.deepcopy(model), CPU, "bf16")
    assert next(bf16.parameters()).dtype == torch.bfloat16
    held_out = texts[300:]
    p32 = predict_probs(fp32, tokenizer, held_out, 64)
    p16 = predict_probs(bf16, tokenizer, held_out, 64)
    assert p16.dtype == np.float32
    assert float(np.mean(p32.argmax(1) == p16.argmax(1))) >= 0.99
    assert float(np.abs(p32 - p16).max()) < 0.05


def test_precision_is_in_the_step_json_the_log_and_the_mlflow_params(
    local_env: Path, demo_csv: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    import mlflow

    from ml import steps
    from ml.core.config import get_settings, reset_settings
    from ml.lifecycle import tracking

    monkeypatch.setenv("ML_PRECISION", "bf16")  # explicit: the same result on every CPU
    reset_settings()
    common = {"run_id": "p18"}
    loaded = steps.load_training_data(dataset_uri=str(demo_csv), **common)
    trained = steps.train(data_uri=loaded["data_uri"], epochs=1, max_train_samples=200, **common)
    assert trained["precision"] == "bf16"
    tracking.configure(get_settings())
    params = mlflow.get_run(trained["mlflow_run_id"]).data.params
    assert (params["precision"], params["precision_setting"]) == ("bf16", "bf16")
    evaluated = steps.evaluate(data_uri=loaded["data_uri"], model_uri=trained["model_uri"],
                               mlflow_run_id=trained["mlflow_run_id"], **common)
    assert evaluated["precision"] == "bf16"
    registered = steps.register(model_uri=trained["model_uri"], mlflow_run_id=trained["mlflow_run_id"], **common)

    inputs = local_env / "new.csv"
    inputs.write_text("text\nThe tent is excellent.\nThe app is useless.\n")
    staged = steps.load_inference_data(run_id="p18-infer", input_uri=str(inputs))
    with caplog.at_level(logging.INFO, logger="ml.steps"):
        predicted = steps.predict(run_id="p18-infer", data_uri=staged["data_uri"], version=registered["version"])
    assert (predicted["precision"], predicted["rows"]) == ("bf16", 2)
    assert "on cpu in bf16 (ML_PRECISION=bf16)" in caplog.text


def test_served_pyfunc_loads_in_the_resolved_precision(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import pandas as pd

    from ml.core.config import reset_settings
    from ml.inference.serving import TextClassifier
    from ml.model import modeling

    model, tokenizer = modeling.build_tiny(["good day", "bad day"], ["negative", "positive"], 32, seed=0)
    folder = modeling.save(model, tokenizer, local_env / "model")
    monkeypatch.setenv("ML_PRECISION", "bf16")
    reset_settings()
    served = TextClassifier()
    served.load_context(types.SimpleNamespace(artifacts={"model": str(folder)}))
    assert served.precision == "bf16" and next(served.model.parameters()).dtype == torch.bfloat16
    frame = served.predict(None, pd.DataFrame({"text": ["good day", "bad day"]}))
    assert list(frame.columns) == ["predicted_label", "score", "prob_negative", "prob_positive"]
    assert np.allclose(frame[["prob_negative", "prob_positive"]].sum(axis=1), 1.0, atol=1e-3)

"""The MLflow pyfunc wrapper, so `mlflow models serve -m models:/<name>@champion` serves a version as is.

It uses the same inference path as the batch `predict` step (length-sorted, token-budget batches).
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class TextClassifier(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with a `text` column. Output: predicted_label, score, prob_<label>."""

    # MLflow's switch (its own ChatModel sets it) to skip wrapping `predict` for type-hint validation.
    # Our signature is explicit (`registry.log_model`); without the switch MLflow warns "Add type
    # hints ..." in ANSI colours at class definition, under its own `simplefilter("once")` that no
    # caller's warnings filter can override.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        from ml.core.config import get_settings
        from ml.model.modeling import load, resolve_device
        from ml.model.precision import resolve_precision

        device = resolve_device("auto")
        self.precision = resolve_precision(get_settings().precision, device)
        self.model, self.tokenizer = load(Path(context.artifacts["model"]), device, self.precision)

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from ml.inference.predict import predict_probs
        from ml.model.modeling import labels_of

        texts = [str(t) for t in model_input["text"].tolist()]
        labels = labels_of(self.model)
        probs = predict_probs(self.model, self.tokenizer, texts, self.tokenizer.model_max_length)
        best = probs.argmax(axis=1)
        frame = pd.DataFrame({"predicted_label": [labels[i] for i in best], "score": probs.max(axis=1)})
        for k, label in enumerate(labels):
            frame[f"prob_{label}"] = probs[:, k]
        return frame

"""Both pipelines chained in one process: for debugging and the embedded mode (`make demo`).

Orchestrators do NOT use this: they run each step as its own task so that each is retried,
logged and timed on its own. This only wires step outputs to step inputs, like they do.
"""

from __future__ import annotations

import uuid
from typing import Any

from ml import preflight, steps


def new_run_id(kind: str) -> str:
    return f"cli-{kind}-{uuid.uuid4().hex[:12]}"


def run_training(*, dataset_uri: str | None = None, run_id: str | None = None, base_model: str | None = None,
                 epochs: int | None = None, learning_rate: float | None = None, batch_size: int | None = None,
                 seed: int | None = None, max_train_samples: int | None = None,
                 orchestrator: str | None = None) -> dict[str, Any]:
    """load-training-data -> train -> evaluate -> register -> promote."""
    preflight.training(dataset_uri=dataset_uri, base_model=base_model, orchestrator=orchestrator)  # nothing staged if it fails
    run_id = run_id or new_run_id("training")
    common = {"run_id": run_id, "orchestrator": orchestrator}
    loaded = steps.load_training_data(dataset_uri=dataset_uri, **common)
    trained = steps.train(data_uri=loaded["data_uri"], base_model=base_model, epochs=epochs,
                          learning_rate=learning_rate, batch_size=batch_size, seed=seed,
                          max_train_samples=max_train_samples, **common)
    evaluated = steps.evaluate(data_uri=loaded["data_uri"], model_uri=trained["model_uri"],
                               mlflow_run_id=trained["mlflow_run_id"], **common)
    registered = steps.register(model_uri=trained["model_uri"], mlflow_run_id=trained["mlflow_run_id"], **common)
    promoted = steps.promote(version=registered["version"], **common)
    return {"run_id": run_id, "model_name": registered["model_name"], "version": registered["version"],
            "promoted": promoted["promoted"], "champion_version": promoted["champion_version"],
            "decision": promoted["decision"], "metrics": evaluated["metrics"], "mlflow_run_id": trained["mlflow_run_id"]}


def run_inference(*, input_uri: str | None = None, run_id: str | None = None, version: str | None = None,
                  output_uri: str | None = None, orchestrator: str | None = None) -> dict[str, Any]:
    """load-inference-data + load-model -> predict -> check-drift -> save-predictions."""
    from ml import monitoring

    preflight.inference(input_uri=input_uri, version=version, orchestrator=orchestrator)  # nothing staged if it fails
    run_id = run_id or new_run_id("inference")
    common = {"run_id": run_id, "orchestrator": orchestrator}
    loaded = steps.load_inference_data(input_uri=input_uri, **common)
    model = steps.load_model(version=version, **common)
    predicted = steps.predict(data_uri=loaded["data_uri"], version=model["version"], model_name=model["model_name"], **common)
    checked = monitoring.check_drift(data_uri=loaded["data_uri"], predictions_uri=predicted["predictions_uri"],
                                     version=model["version"], model_name=model["model_name"], **common)
    saved = steps.save_predictions(predictions_uri=predicted["predictions_uri"], output_uri=output_uri,
                                   partition_date=loaded["partition_date"], **common)
    return {"run_id": run_id, **saved, "drift": {k: checked[k] for k in ("status", "summary", "mlflow_run_id")}}

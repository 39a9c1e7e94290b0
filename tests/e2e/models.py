"""e2e phase "models": a second model added to the catalog, trained and labelled through both
orchestrators while the demo model trains and labels too (docs/models.md).

The user's way, on the host: the model is added to `config/models.yaml` (the catalog the stack
mounts; restored afterwards), `make models` checks it and reloads Dagster's code location, Airflow
picks it up at its next parse (no restart, no rebuild); then `make train MODEL=...` and
`make infer MODEL=...` on both orchestrators, at the same time as `make train` / `make infer` of
the default model. The checks run inside the ml image (`in_image/models.py`: MLflow, the object
store): each model's versions, champion and history are its own, its predictions keep its id column
in its own location, and per model Airflow and Dagster give identical metrics and predictions.
Adds `models` to the results (bench/results/e2e.json):
[{"model": name, "airflow": {...}, "dagster": {...}, "parity": true}, ...].

    python3 -m tests.e2e.run --only models     # against a running stack

EXPECTED_CHECKS: 3 here, 8 runs (`make train|infer` of two models on two orchestrators), 1 when
the data is seeded and 16 in the verification (8 per model).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from . import stack
from .checklist import in_phase

EXPECTED_CHECKS = 3 + 8 + 1 + 16
MODEL = "e2e-spam"
ID_COLUMN = "msg_id"
PREFIX = f"s3://datasets/e2e-models/{MODEL}/"
CATALOG = stack.ROOT / "config" / "models.yaml"
#: The second model: other columns, two classes, a quick training (the gate still applies).
ENTRY = f"""
  {MODEL}:
    description: e2e - a second model with other columns and labels
    dataset_uri: {PREFIX}train.csv
    text_column: body
    label_column: is_spam
    id_column: {ID_COLUMN}
    inference_input_template: {PREFIX}daily/{{ds}}.csv
    inference_schedule: none
    epochs: 6
    batch_size: 16
    train_on_new_data: false
"""


@contextmanager
def model_in_catalog() -> Iterator[None]:
    """The catalog with the second model, as a user edits it; the original bytes restored after."""
    original = CATALOG.read_bytes()
    text = original.decode()
    tmp = CATALOG.with_name(f".{CATALOG.name}.e2e")
    tmp.write_text(text.rstrip("\n") + "\n" + ENTRY)
    tmp.replace(CATALOG)  # atomic: the containers see the old file or the new one
    try:
        yield
    finally:
        tmp.write_bytes(original)
        tmp.replace(CATALOG)
        stack.make("models", timeout=600)  # Dagster drops the model again; Airflow at its next parse


def default_model() -> str:
    return stack.env_file_value("ML_MODEL_NAME") or "text-classifier"


def runs_at_once(pipeline: str, variables: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """`make <pipeline>` of every model on both orchestrators, all at the same time: {model: {orchestrator: outcome}}."""
    jobs = [(m, o) for m in variables for o in stack.ORCHESTRATORS]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="models") as pool:
        futures = {(m, o): pool.submit(in_phase(stack.pipeline), pipeline, o, *variables[m], source="models",
                                       keep_failed=True) for m, o in jobs}
        out: dict[str, dict[str, Any]] = {}
        for (m, o), future in futures.items():
            out.setdefault(m, {})[o] = future.result()
    return out


def run() -> None:
    models = [default_model(), MODEL]
    seeded = stack.in_ml_image("models", "seed", "--prefix", PREFIX, timeout=600)
    if not stack.record("models: the second model's data seeded", seeded is not None):
        return
    before = stack.in_ml_image("models", "champions", *(a for m in models for a in ("--model", m)), timeout=300) or {}
    with model_in_catalog():
        listed = stack.make("models", timeout=600)
        stack.record("models: make models checks the catalog, lists both models and reloads Dagster",
                       listed.returncode == 0 and MODEL in (listed.stdout or "") + (listed.stderr or ""),
                       f"exit {listed.returncode}")
        model_var = {models[0]: [], MODEL: [f"MODEL={MODEL}"]}
        trains = runs_at_once("train", model_var)
        champions = (stack.in_ml_image("models", "champions", *(a for m in models for a in ("--model", m)),
                                       timeout=300) or {}).get("champions") or {}
        # the same version on both orchestrators (a later training of the demo model must not split them)
        infer_var = {models[0]: [f"PARAMS=model_version={champions.get(models[0])}"],
                     MODEL: [f"MODEL={MODEL}", f"PARAMS=input_uri={PREFIX}new.csv model_version={champions.get(MODEL)}"]}
        infers = runs_at_once("infer", infer_var)
        outcomes = {"train": trains, "infer": infers, "before": before.get("versions") or {}}
        result = stack.in_ml_image("models", "verify", "--model", f"{models[0]}:id", "--model", f"{MODEL}:{ID_COLUMN}",
                                   stdin=json.dumps(outcomes, default=str), timeout=900)
    stack.add_rows("models", (result or {}).get("models") or [])
    stack.record("models: checks ran inside the ml image", result is not None)

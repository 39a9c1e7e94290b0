"""MLflow's users and their rights (compose's one-shot `mlflow-users`, in the mlflow image, as the admin).

Why: behind the basic-auth app every request names a user. People log in as the admin (or users
the admin makes); each writer has its own service user with only what it needs:
- the steps' user (MLFLOW_STEPS_USER): MANAGE on the training experiment, the model's champion
  history and monitoring experiments and the registered model (it creates runs and versions, moves
  aliases, and deletes the copies a retried request made: ml/once.py);
- the operator's user (MLFLOW_OPERATOR_USER, ml-cli: make rollback/approve/reject/unpin, the e2e
  checks): EDIT on the registered model and on the champion history (move the alias, tag, record).
Every model of the model catalog (ML_MODEL_CATALOG) gets its own registered model and experiments
with these rights; `make models` runs this again after the catalog changed.
Everyone else who logs in may read (default_permission READ). The experiments and the model are
created here, before any run, so that the rights exist from the first training on. A model name
or experiment created later by a run belongs to the steps' user (MLflow gives its creator MANAGE);
add it to the catalog and run `make models`, or grant the operator EDIT on it in the UI.
Idempotent: an existing user gets its password set again, an existing right is kept.
"""

from __future__ import annotations

import os
import sys
import time

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient


def env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"error: {name} is not set; see .env.example")
    return value


def exists(exc: MlflowException) -> bool:
    return exc.error_code == "RESOURCE_ALREADY_EXISTS" or "already exists" in str(exc)


def user(auth: AuthServiceClient, name: str, password: str) -> None:
    try:
        auth.create_user(name, password)
        print(f"created MLflow user {name}", file=sys.stderr)
    except MlflowException as exc:
        if not exists(exc):
            raise
        auth.update_user_password(name, password)


def grant(auth: AuthServiceClient, name: str, kind: str, resource: str, permission: str) -> None:
    try:
        auth.grant_user_permission(name, kind, resource, permission)
    except MlflowException as exc:
        if not exists(exc):
            raise
    print(f"{name}: {permission} on {kind} {resource}", file=sys.stderr)


def experiment(client: MlflowClient, name: str, kind: str | None = None) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name, tags={"ml.kind": kind} if kind else None)


def wait(client: MlflowClient, tries: int = 60) -> None:
    for attempt in range(tries):
        try:
            client.search_experiments(max_results=1)
            return
        except MlflowException as exc:
            if attempt == tries - 1:
                sys.exit(f"error: MLflow at {os.environ['MLFLOW_TRACKING_URI']} did not answer the admin: {exc}")
            time.sleep(2)


def main() -> None:
    uri = env("MLFLOW_TRACKING_URI")
    env("MLFLOW_TRACKING_USERNAME")  # the admin
    env("MLFLOW_TRACKING_PASSWORD")
    steps, operator = env("MLFLOW_STEPS_USER"), env("MLFLOW_OPERATOR_USER")
    client, auth = MlflowClient(uri, registry_uri=uri), AuthServiceClient(uri)  # not a stale MLFLOW_REGISTRY_URI
    wait(client)
    user(auth, steps, env("MLFLOW_STEPS_PASSWORD"))
    user(auth, operator, env("MLFLOW_OPERATOR_PASSWORD"))
    default = os.environ.get("ML_MODEL_NAME") or "text-classifier"
    training = experiment(client, os.environ.get("ML_EXPERIMENT_NAME") or "text-classification")
    grant(auth, steps, "experiment", training, "MANAGE")
    for model in catalog_models(default):
        rights(client, auth, model, steps, operator)


def catalog_models(default: str) -> list[str]:
    """The default model and every model of the catalog: the file ML_MODEL_CATALOG names (compose
    mounts it), else the catalog's text in ML_MODEL_CATALOG_TEXT (Kubernetes passes it by value)."""
    import yaml

    path = os.environ.get("ML_MODEL_CATALOG", "")
    text = os.environ.get("ML_MODEL_CATALOG_TEXT", "")
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    catalog = yaml.safe_load(text) if text.strip() else None
    entries = (catalog or {}).get("models") or {}
    return [default, *sorted(name for name in entries if name != default)]


def rights(client: MlflowClient, auth: AuthServiceClient, model: str, steps: str, operator: str) -> None:
    """One model's registered model and its champion-history and monitoring experiments, made now
    (so the rights exist before its first run), with the steps' MANAGE and the operator's EDIT."""
    try:
        client.create_registered_model(model)
    except MlflowException as exc:
        if not exists(exc):
            raise
    history = experiment(client, f"champion-history/{model}", "champion-history")
    monitoring = experiment(client, f"monitoring/{model}", "monitoring")
    for resource in (history, monitoring):
        grant(auth, steps, "experiment", resource, "MANAGE")
    grant(auth, steps, "registered_model", model, "MANAGE")
    grant(auth, operator, "registered_model", model, "EDIT")
    grant(auth, operator, "experiment", history, "EDIT")


if __name__ == "__main__":
    main()

"""MLflow writes that create something, made safe to retry: find what an earlier try created first.

Why: a request whose answer times out may still have been carried out. `tracking.call` then tries
again, and MLflow's own HTTP client re-sends POSTs on a read timeout, so a plain retry of
`create_run` or `create_model_version` leaves two runs or two versions. Each creation here
carries a key of its own (a run tag; for a version, its source run), looks the key up before
creating, and, if two tries both landed, keeps the first and deletes the rest.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from ml.core.config import Settings
from ml.lifecycle import tracking

if TYPE_CHECKING:
    from mlflow.entities import Run

log = logging.getLogger(__name__)

#: The run tag that names one creation (a fresh uuid per call of `create_run`; removed once created).
CREATE_KEY_TAG = "ml.create_key"


def create_run(settings: Settings, experiment_id: str, *, run_name: str | None = None,
               tags: dict[str, str] | None = None, start_time: int | None = None) -> Run:
    """A new MLflow run, exactly one however often the request is retried."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    key = uuid.uuid4().hex
    tagged = {**(tags or {}), CREATE_KEY_TAG: key}

    def find() -> list[Run]:
        return client.search_runs([experiment_id], filter_string=f"tags.`{CREATE_KEY_TAG}` = '{key}'",
                                  order_by=["attributes.start_time ASC"], max_results=10)

    def find_or_create() -> Run:
        found = find()
        if found:
            return _keep_first(client, found)
        client.create_run(experiment_id, start_time=start_time, tags=tagged, run_name=run_name)
        return _keep_first(client, find())  # MLflow's HTTP client may have sent the POST twice

    run = tracking.call("create run", find_or_create, settings)
    # The key has served once the run is known: runs of both orchestrators keep the same tags.
    tracking.call("untag created run", lambda: client.delete_tag(run.info.run_id, CREATE_KEY_TAG), settings)
    return run


def _keep_first(client: object, runs: list[Run]) -> Run:
    for extra in runs[1:]:
        log.info("a retried create_run made run %s twice; deleting the copy %s", runs[0].info.run_id, extra.info.run_id)
        client.delete_run(extra.info.run_id)
    return runs[0]


def versions_of_run(settings: Settings, mlflow_run_id: str) -> list[str]:
    """Version numbers of the registered model made from `mlflow_run_id`, lowest first."""
    from mlflow.tracking import MlflowClient

    client, name = MlflowClient(), settings.model_name
    found = tracking.call("find version of run", lambda: client.search_model_versions(
        f"name='{name}' and run_id='{mlflow_run_id}'"), settings)
    return sorted((str(v.version) for v in found), key=int)


def register_version(settings: Settings, model_uri: str, mlflow_run_id: str, tags: dict[str, str]) -> str:
    """The version of `model_uri` (logged in `mlflow_run_id`): registered once, whatever retried.

    The run is the key: one training run registers one version. Tries that both landed (a retry
    after a timed-out answer) leave the lowest number; the others are deleted before anyone
    aliases or promotes them. The version is created with its `tags` (one request): another run's
    promotion may pick it the moment it exists, and its history line names the version's code
    and image from them.
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    def find_or_register() -> str:
        found = versions_of_run(settings, mlflow_run_id)
        if found:
            return found[0]
        return str(mlflow.register_model(model_uri, settings.model_name, await_registration_for=300, tags=tags).version)

    tracking.call("register model", find_or_register, settings)
    versions = versions_of_run(settings, mlflow_run_id)
    client = MlflowClient()
    for extra in versions[1:]:
        log.info("a retried register made v%s and v%s from run %s; deleting v%s", versions[0], extra, mlflow_run_id, extra)
        tracking.call("delete duplicate version", lambda v=extra: client.delete_model_version(settings.model_name, v),
                      settings)
    return versions[0]

"""A retried MLflow write that creates something finds what it created: one run, one version, one
history entry, although the first answer never arrived (a real proxy holds it past the client's
read timeout after the server carried the request out)."""

from __future__ import annotations

import uuid

import pytest
from delay_proxy import DelayProxy

from ml.core.config import get_settings, reset_settings
from ml.lifecycle import champion, history, once, registry, tracking

pytestmark = pytest.mark.integration

TIMEOUT_S = 3  # the client's read timeout; the proxy holds the chosen answer longer


@pytest.fixture
def through_proxy(live_env, monkeypatch):
    """Point `ml` at a proxy in front of the session's MLflow server; returns a factory of proxies."""
    opened: list[DelayProxy] = []

    def start(method: str, path_suffix: str) -> DelayProxy:
        proxy = DelayProxy(live_env.mlflow.url, method, path_suffix, hold_s=TIMEOUT_S * 2).__enter__()
        opened.append(proxy)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", str(TIMEOUT_S))
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
        reset_settings()
        tracking.configure(get_settings())
        return proxy

    yield start
    for proxy in opened:
        proxy.__exit__()


def _runs_named(experiment_id: str, name: str) -> list:
    from mlflow.tracking import MlflowClient

    return MlflowClient().search_runs([experiment_id], filter_string=f"attributes.run_name = '{name}'")


def test_a_retried_create_run_leaves_one_run(through_proxy) -> None:
    proxy = through_proxy("POST", "/runs/create")
    settings = get_settings()
    experiment = tracking.experiment_id(settings)
    name = f"once-{uuid.uuid4().hex[:8]}"
    run = once.create_run(settings, experiment, run_name=name, tags={"k": "v"})
    assert proxy.held == 1 and proxy.count("POST", "/runs/create") >= 2  # the first answer was lost, then retried
    assert [r.info.run_id for r in _runs_named(experiment, name)] == [run.info.run_id]
    assert once.CREATE_KEY_TAG not in _runs_named(experiment, name)[0].data.tags  # no trace left in the lineage


def test_a_retried_register_finds_the_version_it_made(through_proxy) -> None:
    import mlflow

    proxy = through_proxy("POST", "/model-versions/create")
    settings = get_settings()
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings)) as run:
        mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    version = registry.register(f"runs:/{run.info.run_id}/model", {"k": "v"}, settings, run.info.run_id)
    assert proxy.held == 1 and proxy.count("POST", "/model-versions/create") >= 2
    assert once.versions_of_run(settings, run.info.run_id) == [version]
    assert registry.champion_version(settings) is None  # nothing else moved
    assert registry.all_versions(settings)[0].tags["k"] == "v"


def test_a_retried_history_entry_is_recorded_once(through_proxy) -> None:
    through_proxy("POST", "/runs/create")
    settings = get_settings()
    history.record(settings, "pin", "1", "1", "cli:test", moved=False, reason="retry test")
    entries = history.read(settings)
    assert [(e.action, e.reason) for e in entries] == [("pin", "retry test")]


def test_champion_rule_still_works_through_the_proxy(through_proxy) -> None:
    """The proxy itself is transparent: a promotion through it behaves as without it."""
    import mlflow

    through_proxy("POST", "/never-held")
    settings = get_settings()
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings),
                          tags={champion.SIGNATURE_TAG: champion.task_signature(["a", "b"], "text", "label")}) as run:
        mlflow.log_metric(settings.promotion_metric, 0.7)
        mlflow.log_text("artifact_path: model\nflavors: {}\n", "model/MLmodel")
    version = registry.register(f"runs:/{run.info.run_id}/model", {}, settings, run.info.run_id)
    assert champion.promote(version, settings).promoted

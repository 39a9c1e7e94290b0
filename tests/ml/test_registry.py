"""Champion/challenger promotion against a real MLflow server, including five promoters at once."""

from __future__ import annotations

import threading

import pytest

from ml import registry, tracking
from ml.config import get_settings

pytestmark = pytest.mark.integration


def _new_version(score: float) -> str:
    """A real registry version with the metric tag, as `ml.steps.register` leaves it."""
    import mlflow
    from mlflow.tracking import MlflowClient

    settings = get_settings()
    tracking.configure(settings)
    client = MlflowClient()
    try:
        client.create_registered_model(settings.model_name)
    except Exception:
        pass  # exists
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings)) as run:
        mlflow.log_text(f"score {score}", "model/score.txt")
    version = client.create_model_version(settings.model_name, f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_model_version_tag(settings.model_name, version.version, registry.METRIC_TAG_PREFIX + settings.promotion_metric, repr(score))
    return str(version.version)


def test_first_version_always_promoted_then_only_better_or_equal(live_env) -> None:
    settings = get_settings()
    v1 = _new_version(0.70)
    assert registry.promote(v1, settings).promoted
    v2 = _new_version(0.60)
    worse = registry.promote(v2, settings)
    assert not worse.promoted and worse.champion_version == v1
    assert f"kept v{v1} as champion" in worse.decision
    v3 = _new_version(0.70)  # equal: at least the champion's -> promoted
    assert registry.promote(v3, settings).promoted
    assert registry.champion_version(settings) == v3


def test_five_concurrent_promotions_leave_the_best_as_champion(live_env) -> None:
    settings = get_settings()
    scores = [0.81, 0.93, 0.77, 0.88, 0.90]
    versions = [_new_version(s) for s in scores]
    barrier = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def promote(version: str) -> None:
        try:
            barrier.wait()
            registry.promote(version, settings)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert registry.champion_version(settings) == versions[scores.index(max(scores))]


def test_promote_refuses_unevaluated_version(live_env) -> None:
    from mlflow.tracking import MlflowClient

    from ml.errors import BadInputError

    settings = get_settings()
    version = _new_version(0.5)
    MlflowClient().delete_model_version_tag(settings.model_name, version, registry.METRIC_TAG_PREFIX + settings.promotion_metric)
    with pytest.raises(BadInputError, match="has no test_macro_f1"):
        registry.promote(version, settings)

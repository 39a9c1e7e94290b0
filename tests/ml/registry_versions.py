"""Real registry versions made as `ml.steps` leaves them, without training (tests of the champion rule)."""

from __future__ import annotations

from ml.core.config import settings_for
from ml.lifecycle import champion, registry, tracking


def new_version(score: float | None, signature: str | None, tags: dict[str, str] | None = None, *,
                model: str | None = None) -> str:
    """A version of `model` (default: ML_MODEL_NAME): a run with the metric (evaluate) and the task
    signature tag (train), the version with their copies as tags (register), plus any `tags` given."""
    import mlflow
    from mlflow.tracking import MlflowClient

    settings = settings_for(model_name=model)
    tracking.configure(settings)
    client = MlflowClient()
    if not client.search_registered_models(f"name = '{settings.model_name}'"):
        client.create_registered_model(settings.model_name)
    # the run carries what promotion trusts (train's signature tag, evaluate's metric); the version its copies
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings),
                          tags={champion.SIGNATURE_TAG: signature} if signature else None) as run:
        if score is not None:
            mlflow.log_metric("test_macro_f1", score)
        mlflow.log_text(f"score {score}", "model/score.txt")
    version = str(client.create_model_version(settings.model_name, f"{run.info.artifact_uri}/model",
                                              run.info.run_id).version)
    copies = {champion.SIGNATURE_TAG: signature} if signature else {}
    if score is not None:
        copies[registry.METRIC_TAG_PREFIX + settings.promotion_metric] = repr(score)
    for key, value in {**copies, **(tags or {})}.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
    return version

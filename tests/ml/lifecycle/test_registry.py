"""The champion rule against a real MLflow server: promotion, task signatures, rollback/pin,
approval, rejection, the history, and five promoters racing a rollback."""

from __future__ import annotations

import itertools
import threading

import pytest

from ml.core.config import get_settings, reset_settings
from ml.core.errors import BadInputError
from ml.lifecycle import champion, commands, history, registry
from tests.ml.registry_versions import new_version

pytestmark = pytest.mark.integration

BINARY = champion.task_signature(["negative", "positive"], "text", "label")
STARS = champion.task_signature(["1", "3", "5"], "text", "label")


def _new_version(score: float | None, signature: str | None = BINARY, tags: dict[str, str] | None = None) -> str:
    return new_version(score, signature, tags)


def _tags(version: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    return MlflowClient().get_model_version(get_settings().model_name, version).tags


def test_first_version_always_promoted_then_only_better_or_equal(live_env) -> None:
    settings = get_settings()
    v1 = _new_version(0.70)
    assert champion.promote(v1, settings).promoted
    v2 = _new_version(0.60)
    worse = champion.promote(v2, settings)
    assert not worse.promoted and worse.champion_version == v1
    assert f"kept v{v1} as champion" in worse.decision
    v3 = _new_version(0.70)  # equal: at least the champion's -> promoted
    assert champion.promote(v3, settings).promoted
    assert registry.champion_version(settings) == v3
    moves = history.read(settings)
    assert [(m.action, m.previous, m.new) for m in moves] == [("promote", "", v1), ("promote", v1, v3)]


def test_another_task_is_registered_never_promoted_and_says_why(live_env) -> None:
    settings = get_settings()
    v1 = _new_version(0.80)
    champion.promote(v1, settings)
    stars = _new_version(1.0, STARS)  # a perfect score on another task must not win
    outcome = champion.promote(stars, settings)
    assert not outcome.promoted and registry.champion_version(settings) == v1
    assert "labels 1, 3, 5" in outcome.decision and "ML_MODEL_NAME" in outcome.decision
    assert f"make approve VERSION={stars} NEW_TASK=1" in outcome.decision  # the stack's command (S3 storage)
    v3 = _new_version(0.85)  # the better version of the same task still wins
    assert champion.promote(v3, settings).promoted
    with pytest.raises(BadInputError, match="NEW_TASK=1"):
        commands.approve(version=stars, actor="cli:test")
    assert registry.champion_version(settings) == v3
    commands.approve(version=stars, actor="cli:test", new_task=True, reason="the model now rates stars")
    assert registry.champion_version(settings) == stars


def test_rollback_pins_until_unpin_and_the_replaced_champion_is_not_re_elected(live_env) -> None:
    settings = get_settings()
    v1, v2 = _new_version(0.70), _new_version(0.90)
    champion.promote(v1, settings)
    champion.promote(v2, settings)
    out = commands.rollback(version=v1, reason="v2 mislabels sarcasm", actor="cli:alice")
    assert out["champion_version"] == v1 and out["pinned"]
    assert _tags(v2)[champion.REVIEW_TAG] == "demoted"
    v3 = _new_version(0.95)
    held = champion.promote(v3, settings)
    assert not held.promoted and registry.champion_version(settings) == v1
    assert "pinned by cli:alice" in held.decision and "make unpin" in held.decision
    commands.unpin(actor="cli:alice")
    assert registry.champion_version(settings) == v1  # unpin alone moves nothing
    v4 = _new_version(0.85)
    assert not champion.promote(v4, settings).promoted
    assert registry.champion_version(settings) == v3  # the best eligible: v2 (0.90, demoted) is not re-elected
    actions = [(m.action, m.previous, m.new, m.actor) for m in history.read(settings)]
    assert ("rollback", v2, v1, "cli:alice") in actions and ("unpin", v1, v1, "cli:alice") in actions
    assert actions[-1][:3] == ("promote", v1, v3)


def test_rollback_without_a_champion_is_one_move_in_the_history(live_env) -> None:
    settings = get_settings()
    v1 = _new_version(0.70)  # registered, never promoted: no champion yet
    out = commands.rollback(version=v1, reason="start from a known version", actor="cli:bob")
    assert out["champion_version"] == v1 and out["previous"] is None and "there was none" in out["decision"]
    moves = [(m.action, m.previous, m.new) for m in history.read(settings)]
    assert moves == [("rollback", "", v1)]  # one entry, from no champion


def test_approval_mode_waits_for_a_person_and_records_both_decisions(live_env, monkeypatch) -> None:
    monkeypatch.setenv("ML_PROMOTION_MODE", "approval")
    monkeypatch.setenv("ML_MIN_TEST_MACRO_F1", "0.5")
    reset_settings()
    settings = get_settings()
    v1 = _new_version(0.80)
    first = champion.promote(v1, settings)
    assert first.awaiting_approval and not first.promoted and registry.champion_version(settings) is None
    assert _tags(v1)[champion.REVIEW_TAG] == "pending" and f"make approve VERSION={v1}" in first.decision
    commands.approve(version=v1, actor="airflow:bob", reason="looks good")
    assert registry.champion_version(settings) == v1
    v2 = _new_version(0.95)
    assert champion.promote(v2, settings).awaiting_approval
    assert registry.champion_version(settings) == v1
    commands.reject(version=v2, actor="airflow:bob", reason="trained on leaked labels")
    assert _tags(v2)[champion.REVIEW_TAG] == "rejected"
    weak = _new_version(0.30)
    with pytest.raises(BadInputError, match="below the quality gate"):
        commands.approve(version=weak, actor="cli:test")
    moves = [(m.action, m.new, m.actor, m.reason) for m in history.read(settings)]
    assert moves == [("approve", v1, "airflow:bob", "looks good"), ("reject", v1, "airflow:bob", "trained on leaked labels")]


@pytest.mark.parametrize("call, match", [
    (lambda: commands.rollback(version="99", reason="x"), "has no version 99"),
    (lambda: commands.approve(version="99"), "has no version 99"),
    (lambda: commands.unpin(), "not pinned"),
    (lambda: commands.rollback(version="1", reason=" "), "needs a reason"),
])
def test_bad_lifecycle_input_is_one_line_and_changes_nothing(live_env, call, match) -> None:
    settings = get_settings()
    v1 = _new_version(0.8)
    champion.promote(v1, settings)
    before = history.read(settings)
    with pytest.raises(BadInputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    assert registry.champion_version(settings) == v1 and history.read(settings) == before
    assert champion.read_pin(settings) is None


def test_rejecting_the_champion_or_rolling_back_to_another_task_is_refused(live_env) -> None:
    settings = get_settings()
    v1 = _new_version(0.8)
    champion.promote(v1, settings)
    stars = _new_version(0.9, STARS)
    with pytest.raises(BadInputError, match="is the champion"):
        commands.reject(version=v1)
    with pytest.raises(BadInputError, match="separate ML_MODEL_NAME"):
        commands.rollback(version=stars, reason="try it")
    assert registry.champion_version(settings) == v1 and champion.read_pin(settings) is None


def test_cli_rollback_to_a_missing_version_exits_2_with_one_line(live_env, capsys) -> None:
    from ml.cli import main

    v1 = _new_version(0.8)
    champion.promote(v1, get_settings())
    assert main(["rollback", "--version", "42", "--reason", "bad release"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "has no version 42" in err[0]


def test_five_concurrent_promotions_and_a_rollback_end_in_the_documented_state(live_env) -> None:
    settings = get_settings()
    base = _new_version(0.50)
    champion.promote(base, settings)
    scores = [0.81, 0.93, 0.77, 0.88, 0.90]
    versions = [_new_version(s) for s in scores]
    barrier = threading.Barrier(len(versions) + 1)
    errors: list[BaseException] = []

    def run(fn) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    jobs = [lambda v=v: champion.promote(v, settings, actor=f"test:{v}") for v in versions]
    jobs.insert(3, lambda: commands.rollback(version=base, reason="incident", actor="cli:oncall"))
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # The documented rule: a pin wins over every promotion, whenever the promoters finished.
    assert registry.champion_version(settings) == base
    assert champion.read_pin(settings).version == base
    moves = history.read(settings)
    assert sum(m.action == "rollback" for m in moves) + sum(m.action == "pin" for m in moves) == 1
    assert moves[-1].new == base
    for earlier, later in itertools.pairwise(moves):  # oldest first, each move listed once
        assert earlier.at <= later.at
        assert not (earlier.moved and later.moved and earlier.new == later.new)


def test_a_race_to_the_same_version_lists_the_persons_rollback_once(live_env) -> None:
    """A promoter restoring the pin and the rollback itself both move the alias to v1: one entry, the rollback's."""
    settings = get_settings()
    history.record(settings, "promote", None, "1", "test:a", moved=True, at_ms=1_000)
    history.record(settings, "promote", None, "2", "test:b", moved=True, at_ms=2_000)
    history.record(settings, "restore pin", None, "1", "test:c", moved=True, at_ms=3_000)
    history.record(settings, "rollback", None, "1", "cli:oncall", moved=True, at_ms=3_001, reason="incident")
    history.record(settings, "restore pin", None, "1", "test:d", moved=True, at_ms=3_002)
    moves = [(m.action, m.previous, m.new, m.actor) for m in history.read(settings)]
    assert moves == [("promote", "", "1", "test:a"), ("promote", "1", "2", "test:b"),
                     ("rollback", "2", "1", "cli:oncall")]


def test_five_concurrent_promotions_leave_the_best_as_champion(live_env) -> None:
    settings = get_settings()
    scores = [0.81, 0.93, 0.77, 0.88, 0.90]
    versions = [_new_version(s) for s in scores]
    barrier = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def promote(version: str) -> None:
        try:
            barrier.wait()
            champion.promote(version, settings)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    best = versions[scores.index(max(scores))]
    assert registry.champion_version(settings) == best
    moves = history.read(settings)
    assert moves[-1].new == best and all(a.new != b.new for a, b in itertools.pairwise(moves))
    assert history.champion_at(history.read(settings), "9999") == best


def test_promote_refuses_unevaluated_version(live_env) -> None:
    settings = get_settings()
    version = _new_version(None, tags={registry.METRIC_TAG_PREFIX + settings.promotion_metric: "0.99"})
    with pytest.raises(BadInputError, match="has no test_macro_f1 in its MLflow run"):
        champion.promote(version, settings)


def test_a_forged_metric_tag_is_not_promoted(live_env) -> None:
    """The version's run measured 0.2; a hand-written tag claims 0.99: the champion stays."""
    settings = get_settings()
    v1 = _new_version(0.70)
    assert champion.promote(v1, settings).promoted
    forged = _new_version(0.20, tags={registry.METRIC_TAG_PREFIX + settings.promotion_metric: "0.99"})
    outcome = champion.promote(forged, settings)
    assert not outcome.promoted and registry.champion_version(settings) == v1
    assert "scored 0.2000" in outcome.decision


def test_a_version_is_born_with_its_tags(live_env, monkeypatch) -> None:
    """Another run's promotion may pick a version the moment it exists: its code and image are on it then."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from ml.lifecycle import tracking

    class Echo(mlflow.pyfunc.PythonModel):  # the smallest model register takes, without a training
        def predict(self, context, model_input, params=None):
            return model_input

    settings = get_settings()
    tracking.configure(settings)
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings)) as run:
        logged = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])

    def tagged_later(*args, **kwargs) -> None:
        raise AssertionError("a version tag set after the version exists")

    monkeypatch.setattr(MlflowClient, "set_model_version_tag", tagged_later)
    lineage = {"git_sha": "0123abcd", "image": "mlpipes/ml:local", "image_id": "sha256:feed"}
    version = registry.register(logged.model_uri, lineage, settings, run.info.run_id)
    assert _tags(version) == lineage
    assert MlflowClient().get_model_version_by_alias(settings.model_name, registry.CHALLENGER).version == version

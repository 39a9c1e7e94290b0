"""The champion rule on registry states written by hand (no server): what `ml.lifecycle.champion` decides."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ml.core.config import Settings
from ml.core.errors import BadInputError
from ml.lifecycle import champion, registry

METRIC = "test_macro_f1"
BINARY = champion.task_signature(["positive", "negative"], "text", "label")
STARS = champion.task_signature(["5", "1", "3"], "text", "label")


def version(number: int, score: float | None, signature: str | None = BINARY, review: str = "",
            status: str = "READY") -> SimpleNamespace:
    """A version whose run measured `score` and `signature` (the rule reads them from the run, not the tags)."""
    tags = {champion.REVIEW_TAG: review} if review else {}
    return SimpleNamespace(version=str(number), tags=tags, status=status, run_id=f"run{number}",
                           measured=registry.Measured(score, signature))


def state(*versions: SimpleNamespace, champ: str | None = None, pin: str | None = None) -> champion.State:
    return champion.State(versions=list(versions), champion=champ,
                          pin=champion.Pin(pin, "cli:alice", "incident", "2026-11-20T10:00:00") if pin else None,
                          measured={v.version: v.measured for v in versions})


def test_forged_version_tags_change_nothing() -> None:
    """A `metric.*` or `task_signature` tag written by hand on a version is not a measurement."""
    forged = version(2, 0.1)
    forged.tags.update({registry.METRIC_TAG_PREFIX + METRIC: "0.99", champion.SIGNATURE_TAG: BINARY})
    unmeasured = version(3, None, None)
    unmeasured.tags.update({registry.METRIC_TAG_PREFIX + METRIC: "1.0", champion.SIGNATURE_TAG: BINARY})
    assert state(version(1, 0.8), forged, unmeasured, champ="1").target(METRIC) == "1"


def test_signature_is_canonical_whatever_the_label_order() -> None:
    assert champion.task_signature(["b", "a"], "text", "label") == champion.task_signature(["a", "b"], "text", "label")
    assert champion.task_signature(["a", "b"], "body", "label") != champion.task_signature(["a", "b"], "text", "label")
    assert "labels 1, 3, 5" in champion.describe_signature(STARS)


def test_best_of_the_champions_task_ties_to_the_newer() -> None:
    s = state(version(1, 0.8), version(2, 0.9), version(3, 0.9), version(4, 1.0, STARS), champ="1")
    assert s.target(METRIC) == "3"


def test_without_a_champion_the_first_evaluated_version_defines_the_task() -> None:
    s = state(version(1, None, STARS), version(2, 0.7, STARS), version(3, 0.9))
    assert s.task(METRIC) == STARS and s.target(METRIC) == "2"


@pytest.mark.parametrize("review", ["pending", "rejected", "demoted"])
def test_reviewed_out_versions_are_never_elected(review: str) -> None:
    s = state(version(1, 0.8), version(2, 0.99, review=review), champ="1")
    assert s.target(METRIC) == "1"


def test_a_pin_wins_over_any_score() -> None:
    s = state(version(1, 0.6), version(2, 0.99), champ="2", pin="1")
    assert s.target(METRIC) == "1"


def test_a_version_not_ready_cannot_be_made_champion() -> None:
    s = state(version(1, 0.8), version(2, 0.9, status="PENDING_REGISTRATION"), champ="1")
    with pytest.raises(BadInputError, match="PENDING_REGISTRATION, not READY"):
        champion._checked(Settings(), s, "2")


def test_another_task_needs_new_task_to_become_champion() -> None:
    s = state(version(1, 0.8), version(2, 0.9, STARS), champ="1")
    with pytest.raises(BadInputError, match="--new-task"):
        champion._checked(Settings(), s, "2")
    assert champion._checked(Settings(), s, "2", new_task=True).version == "2"


def test_a_persons_change_names_the_mlflow_login_that_authorised_it(monkeypatch) -> None:
    from ml.lifecycle import commands

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ml-operator")
    assert commands._who("cli:alice", None, None) == "cli:alice [mlflow:ml-operator]"  # --actor is only text
    assert commands._who(None, "r1", "dagster") == "dagster:r1"  # a pipeline run is its own identity
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    assert commands._who("cli:alice", None, None) == "cli:alice"

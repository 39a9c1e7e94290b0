"""The drift statistic (ml/drift.py) on synthetic data: unshifted partitions pass, clearly shifted ones drift."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from ml.core.errors import BadInputError
from ml.data import demo
from ml.monitoring import drift

THRESHOLDS = drift.Thresholds(warn=0.1, alert=0.25)

_GERMAN = ["der", "mixer", "ist", "leider", "kaputt", "und", "völlig", "unbrauchbar", "das", "hotelzimmer", "war",
           "sauber", "aber", "laut", "lieferung", "kam", "spät", "ich", "möchte", "mein", "geld", "zurück", "sehr",
           "gut", "empfehlenswert", "nie", "wieder", "zelt", "jacke", "kaffeemaschine"]


def _reference() -> dict:
    """The profile of a demo training split (and held-out texts), as register builds it."""
    rows = demo.rows(900, seed=7)
    train, heldout = rows[:800], rows[800:]
    return drift.build_profile([r["text"] for r in train], [r["label"] for r in train], [r["text"] for r in heldout])


def _compare(profile: dict, texts: list[str], labels: list[str]) -> dict:
    counter = drift.counter_for(profile)
    counter.add(texts)
    return drift.compare(profile, counter, Counter(labels), THRESHOLDS)


def _german(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(_GERMAN) for _ in range(rng.randint(6, 12))).capitalize() + "." for _ in range(n)]


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0
    small, large = drift.psi([0.5, 0.5], [0.55, 0.45]), drift.psi([0.5, 0.5], [0.9, 0.1])
    assert 0 < small < 0.1 < 0.25 < large
    assert drift.psi([1.0, 0.0], [0.0, 1.0]) > 10  # an empty bin is floored, not infinite
    with pytest.raises(ValueError, match="same bins"):
        drift.psi([1.0], [0.5, 0.5])


@pytest.mark.parametrize(("value", "status"), [(0.0, "ok"), (0.099, "ok"), (0.1, "warn"), (0.249, "warn"),
                                                (0.25, "drift"), (3.0, "drift")])
def test_thresholds_grade_a_psi(value: float, status: str) -> None:
    assert drift.grade(value, 0.1, 0.25) == status


def test_an_unshifted_partition_is_ok() -> None:
    profile = _reference()
    fresh = demo.rows(300, seed=11)  # the same generator, other rows
    verdict = _compare(profile, [r["text"] for r in fresh], [r["label"] for r in fresh])
    assert verdict["status"] == "ok", verdict["summary"]
    assert verdict["rows"] == 300
    assert all(f["psi"] < THRESHOLDS.warn for f in verdict["statistics"].values())


def test_texts_in_another_language_drift_on_unknown_words() -> None:
    profile = _reference()
    fresh = demo.rows(300, seed=11)
    verdict = _compare(profile, _german(300), [r["label"] for r in fresh])
    words = verdict["statistics"]["unknown_words"]
    assert verdict["status"] == "drift" and words["status"] == "drift", verdict["summary"]
    assert words["share"] > 0.8 and words["reference_share"] < 0.05
    assert verdict["statistics"]["predicted_label"]["status"] == "ok"  # the class mix did not move
    assert "unknown_words PSI" in verdict["summary"] and "\n" not in verdict["summary"]


def test_much_longer_texts_drift_on_text_length() -> None:
    profile = _reference()
    fresh = demo.rows(300, seed=11)
    verdict = _compare(profile, [" ".join([r["text"]] * 8) for r in fresh], [r["label"] for r in fresh])
    length = verdict["statistics"]["text_length"]
    assert length["status"] == "drift" and verdict["status"] == "drift"
    assert length["mean_words"] > 5 * length["reference_mean_words"]
    assert verdict["statistics"]["unknown_words"]["status"] == "ok"  # same words, only longer


def test_one_predicted_class_drifts_on_predicted_labels() -> None:
    profile = _reference()
    fresh = demo.rows(300, seed=11)
    verdict = _compare(profile, [r["text"] for r in fresh], ["positive"] * 300)
    labels = verdict["statistics"]["predicted_label"]
    assert labels["status"] == "drift" and verdict["status"] == "drift"
    assert labels["shares"] == {"negative": 0.0, "neutral": 0.0, "positive": 1.0}
    assert set(labels["reference_shares"]) == set(demo.LABELS)


def test_a_modest_shift_warns() -> None:
    """A few foreign texts (8 of 300): more unknown words than the held-out texts had, not another population."""
    profile = _reference()
    fresh = demo.rows(300, seed=11)
    texts = [r["text"] for r in fresh[:292]] + _german(8)
    verdict = _compare(profile, texts, [r["label"] for r in fresh])
    assert verdict["statistics"]["unknown_words"]["status"] == "warn", verdict["summary"]
    assert verdict["status"] == "warn"


def test_profile_survives_a_json_round_trip() -> None:
    profile = _reference()
    again = drift.check_profile(json.loads(json.dumps(profile)), "memory")
    assert again == profile
    assert profile["schema"] == drift.PROFILE_SCHEMA and profile["rows"] == 800
    assert abs(sum(profile["labels"].values()) - 1) < 1e-9 and set(profile["labels"]) == set(demo.LABELS)
    assert abs(sum(profile["text_length"]["shares"]) - 1) < 1e-9
    assert len(profile["text_length"]["shares"]) == len(profile["text_length"]["edges"]) + 1
    assert profile["text_length"]["quantiles"]["p05"] <= profile["text_length"]["quantiles"]["p95"]
    fresh = demo.rows(300, seed=11)
    texts, labels = [r["text"] for r in fresh], [r["label"] for r in fresh]
    assert _compare(again, texts, labels) == _compare(profile, texts, labels)


def test_a_profile_of_another_schema_or_an_empty_partition_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="schema"):
        drift.check_profile({"schema": 99}, "runs:/x/drift/reference_profile.json")
    with pytest.raises(BadInputError, match="no rows"):
        drift.compare(_reference(), drift.counter_for(_reference()), Counter(), THRESHOLDS)
    with pytest.raises(BadInputError, match="train split"):
        drift.build_profile([], [], [])


def test_words_and_length_bins() -> None:
    assert drift.words("Größe: 42cm, SEHR gut!") == ["größe", "42cm", "sehr", "gut"]
    edges = [5.0, 7.5, 9.0]
    assert [drift.bin_index(n, edges) for n in (0, 5, 6, 7.5, 8, 9, 10)] == [0, 0, 1, 1, 2, 2, 3]


def test_identical_training_lengths_still_give_two_bins() -> None:
    profile = drift.build_profile(["a b c"] * 20, ["x", "y"] * 10, ["a b c"] * 5)
    assert profile["text_length"]["edges"] == [3.0] and profile["text_length"]["shares"] == [1.0, 0.0]
    assert _compare(profile, ["a b c d e f"] * 50, ["x", "y"] * 25)["statistics"]["text_length"]["status"] == "drift"


def test_drift_thresholds_are_validated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml.core.config import load_settings

    monkeypatch.setenv("ML_DRIFT_WARN_PSI", "0.3")
    with pytest.raises(BadInputError, match="ML_DRIFT_ALERT_PSI"):
        load_settings()
    monkeypatch.setenv("ML_DRIFT_WARN_PSI", "0.2")
    monkeypatch.setenv("ML_DRIFT_BLOCKING", "true")
    s = load_settings()
    assert (s.drift_warn_psi, s.drift_alert_psi, s.drift_blocking) == (0.2, 0.25, True)


def test_the_drift_plot_has_one_panel_per_statistic() -> None:
    from ml.monitoring import plots

    profile = _reference()
    verdict = _compare(profile, _german(50), ["positive"] * 50)
    fig = plots.drift_comparison(profile["text_length"]["edges"], verdict["statistics"], "v1: drift")
    titles = [axis.get_title() for axis in fig.axes]
    assert [t.split(":")[0] for t in titles] == ["text_length", "unknown_words", "predicted_label"]
    assert all("(drift)" in t or "(ok)" in t or "(warn)" in t for t in titles)

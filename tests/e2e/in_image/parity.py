"""Parity of Airflow and Dagster: the same pipeline means the same thing on both, run INSIDE the ml image.

The parity phase (tests/e2e/parity.py, on the host) pipes in the outcomes of runs made the user's
way (`make train|infer ORCHESTRATOR=...`, whose last stdout line is the JSON outcome) and reads the
JSON object printed on the last stdout line: {"checks": [{"name", "passed", "detail"}], "parity":
[{"what", "airflow", "dagster", "equal"}]}.

    python -m tests.e2e.in_image.parity < pairs.json
    # {"train": {"airflow": outcome, "dagster": outcome}, "infer": {...},
    #  "partition": {"airflow": outcome, "dagster": outcome, "template": "s3://.../{ds}.csv",
    #                "triggered_between": ["<ISO UTC>", "<ISO UTC>"]}}

What is compared (each comparison is one check and one row of the parity table):
  - train: the two MLflow runs' test metrics (|a-b| <= 1e-6), lineage tags and params, once the
    values naming the run itself (its pipeline run id, MLflow run id, workspace name) are masked;
  - infer: the model version used, and the prediction files row by row (joined by id): columns,
    ids, predicted labels, scores and class probabilities, model_name/model_version columns;
  - partition: `make infer PARAMS=input_uri=` on both at once read the same input, the partition of
    the UTC day before the trigger time (the rule of ml/partitions.py).

The compare_* functions are pure (data in, Comparison out): testable without MLflow or S3.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ..checklist import check, emit, one_line, say
from .common import mlflow_client, read_predictions

TOLERANCE = 1e-6
ORCHESTRATORS = ("airflow", "dagster")
DEFAULT_TEMPLATE = "s3://datasets/inference/{ds}.csv"
#: Tags that name the run or its orchestrator: different on purpose.
RUN_SPECIFIC_TAGS = frozenset({"pipeline_run_id", "orchestrator"})
RUN_MASK = "<run>"


@dataclass
class Comparison:
    """One airflow-vs-dagster comparison: a row of the parity table and a check."""

    what: str
    airflow: Any
    dagster: Any
    equal: bool
    detail: str = ""
    check: str = ""  # the check's wording; default "same <what>"

    @property
    def check_name(self) -> str:
        return f"parity: {self.check or 'same ' + self.what} (airflow vs dagster)"

    def row(self) -> dict[str, Any]:
        return {"what": self.what, "airflow": short(self.airflow), "dagster": short(self.dagster),
                "equal": bool(self.equal)}


def short(value: Any, limit: int = 72) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# --- pure comparisons ---------------------------------------------------------------------------


def step_result(outcome: Mapping[str, Any] | None, step: str) -> dict[str, Any]:
    """A step's JSON result from an outcome (results are keyed by ml's step names on both orchestrators)."""
    result = ((outcome or {}).get("results") or {}).get(step)
    return result if isinstance(result, dict) else {}


def mask(value: Any, own_ids: Iterable[str]) -> str:
    """`value` as text with the run's own identities replaced (longest first) by <run>."""
    text = str(value)
    for ident in sorted({i for i in own_ids if i}, key=len, reverse=True):
        text = text.replace(ident, RUN_MASK)
    return text


def compare_test_metrics(airflow: Mapping[str, float], dagster: Mapping[str, float],
                         tol: float = TOLERANCE) -> Comparison:
    """Every metric named test_*: the same key set, values within `tol`."""
    a = {k: float(v) for k, v in airflow.items() if k.startswith("test_")}
    b = {k: float(v) for k, v in dagster.items() if k.startswith("test_")}
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    common = sorted(a.keys() & b.keys())
    differ = [k for k in common if not abs(a[k] - b[k]) <= tol]
    equal = bool(common) and not (only_a or only_b or differ)
    if equal:
        worst = max(abs(a[k] - b[k]) for k in common)
        detail = f"{len(common)} test metrics, max |a-b| = {worst:.2g} (tolerance {tol:g})"
    else:
        parts = [f"{k}: {a[k]:.6g} vs {b[k]:.6g}" for k in differ]
        parts += [f"only airflow: {only_a}"] * bool(only_a) + [f"only dagster: {only_b}"] * bool(only_b)
        detail = "; ".join(parts) if parts else "no test_* metrics"
    return Comparison("test metrics", _metrics_text(a), _metrics_text(b), equal, detail)


def _metrics_text(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k.removeprefix('test_')}={v:.4f}" for k, v in sorted(metrics.items())) or "none"


def _compare_mapping(what: str, airflow: Mapping[str, Any], dagster: Mapping[str, Any],
                     airflow_ids: Iterable[str], dagster_ids: Iterable[str], ignore: Iterable[str] = ()) -> Comparison:
    """Same keys, and the same values once each side's own run identities are masked."""
    ignore = set(ignore)
    a = {k: mask(v, airflow_ids) for k, v in airflow.items()}
    b = {k: mask(v, dagster_ids) for k, v in dagster.items()}
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    differ = sorted(k for k in a.keys() & b.keys() if k not in ignore and a[k] != b[k])
    compared = sorted(k for k in a.keys() & b.keys() if k not in ignore)
    equal = bool(a) and not (only_a or only_b or differ)
    if equal:
        masked = sorted(k for k in compared if RUN_MASK in a[k])
        detail = (f"{len(compared)} equal: {', '.join(compared)}"
                  + (f"; not compared: {', '.join(sorted(ignore & a.keys()))}" if ignore & a.keys() else "")
                  + (f"; run ids masked in: {', '.join(masked)}" if masked else ""))
    else:
        parts = [f"{k}: {short(a[k], 60)} vs {short(b[k], 60)}" for k in differ]
        parts += [f"only airflow: {only_a}"] * bool(only_a) + [f"only dagster: {only_b}"] * bool(only_b)
        detail = "differ: " + "; ".join(parts) if parts else f"no {what}"
    return Comparison(what, f"{len(a)} {what}", f"{len(b)} {what}", equal, detail)


def compare_lineage_tags(airflow: Mapping[str, str], dagster: Mapping[str, str],
                         airflow_ids: Iterable[str] = (), dagster_ids: Iterable[str] = ()) -> Comparison:
    """Run tags except mlflow.*: same keys; same values apart from the run id and orchestrator."""
    a = {k: v for k, v in airflow.items() if not k.startswith("mlflow.")}
    b = {k: v for k, v in dagster.items() if not k.startswith("mlflow.")}
    return _compare_mapping("lineage tags", a, b, airflow_ids, dagster_ids, ignore=RUN_SPECIFIC_TAGS)


def compare_params(airflow: Mapping[str, str], dagster: Mapping[str, str],
                   airflow_ids: Iterable[str] = (), dagster_ids: Iterable[str] = ()) -> Comparison:
    """MLflow run params: same keys and values (a workspace path naming the run is masked)."""
    return _compare_mapping("training params", airflow, dagster, airflow_ids, dagster_ids)


def compare_model_version(airflow: Mapping[str, Any], dagster: Mapping[str, Any]) -> Comparison:
    """Two inference summaries used the same registered model version."""
    a = (airflow.get("model_name"), _str_or_none(airflow.get("model_version")))
    b = (dagster.get("model_name"), _str_or_none(dagster.get("model_version")))
    equal = a == b and a[1] is not None
    return Comparison("model version", f"{a[0]} v{a[1]}", f"{b[0]} v{b[1]}", equal,
                      f"both {a[0]} v{a[1]}" if equal else f"{a[0]} v{a[1]} vs {b[0]} v{b[1]}")


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _columns(table: Any) -> dict[str, list[Any]]:
    """A pyarrow Table (or a mapping of column name -> list) as plain lists."""
    if isinstance(table, Mapping):
        return {k: list(v) for k, v in table.items()}
    return {name: table.column(name).to_pylist() for name in table.column_names}


def compare_predictions(airflow: Any, dagster: Any, id_column: str = "id", tol: float = TOLERANCE) -> list[Comparison]:
    """Two prediction files, joined by id: columns, ids, labels, scores, model columns."""
    a, b = _columns(airflow), _columns(dagster)
    out: list[Comparison] = []
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    out.append(Comparison("prediction columns", f"{len(a)} columns", f"{len(b)} columns", not (only_a or only_b),
                          f"only airflow: {only_a}; only dagster: {only_b}" if only_a or only_b
                          else ", ".join(sorted(a))))
    if id_column not in a or id_column not in b:
        out.append(Comparison("prediction ids", id_column in a, id_column in b, False, f"no {id_column!r} column"))
        return out
    ids_a, ids_b = [str(i) for i in a[id_column]], [str(i) for i in b[id_column]]
    dup_a, dup_b = len(ids_a) - len(set(ids_a)), len(ids_b) - len(set(ids_b))
    missing_b, missing_a = sorted(set(ids_a) - set(ids_b)), sorted(set(ids_b) - set(ids_a))
    ids_equal = bool(ids_a) and not (dup_a or dup_b or missing_a or missing_b)
    out.append(Comparison("prediction ids", f"{len(ids_a)} rows", f"{len(ids_b)} rows", ids_equal,
                          f"{len(ids_a)} ids, the same set" if ids_equal else
                          f"only airflow: {len(missing_b)} {missing_b[:3]}; only dagster: {len(missing_a)} "
                          f"{missing_a[:3]}; duplicates airflow {dup_a}, dagster {dup_b}"))
    row_a = {i: n for n, i in enumerate(ids_a)}
    row_b = {i: n for n, i in enumerate(ids_b)}
    common = [i for i in ids_a if i in row_b]

    def per_id(column: str) -> list[tuple[str, Any, Any]]:
        return [(i, a[column][row_a[i]], b[column][row_b[i]]) for i in common]

    if "predicted_label" in a and "predicted_label" in b:
        pairs = per_id("predicted_label")
        differ = [(i, x, y) for i, x, y in pairs if x != y]
        out.append(Comparison("predicted label per id", _distribution(a["predicted_label"]),
                              _distribution(b["predicted_label"]), bool(pairs) and not differ,
                              f"{len(pairs)} ids compared, {len(differ)} differ"
                              + (f", e.g. {differ[:3]}" if differ else "")))
    else:
        out.append(Comparison("predicted label per id", "predicted_label" in a, "predicted_label" in b, False,
                              "no predicted_label column"))
    score_columns = sorted(c for c in a.keys() & b.keys() if c == "score" or c.startswith("prob_"))
    worst: tuple[float, str, str] = (0.0, "", "")
    bad = 0
    for column in score_columns:
        for i, x, y in per_id(column):
            gap = abs(float(x) - float(y)) if x is not None and y is not None else (0.0 if x is y else float("inf"))
            if not gap <= tol:
                bad += 1
            if gap > worst[0]:
                worst = (gap, column, i)
    compared = bool(common) and "score" in score_columns
    out.append(Comparison(f"scores per id (±{tol:g})", _mean(a.get("score")), _mean(b.get("score")),
                          compared and not bad,
                          (f"{len(common)} ids x {len(score_columns)} columns ({', '.join(score_columns)}), "
                           f"{bad} beyond {tol:g}, max |a-b| = {worst[0]:.2g}"
                           + (f" ({worst[1]} of id {worst[2]})" if worst[2] else "")) if compared
                          else "no score column or no common ids"))
    models_a, models_b = _model_columns(a), _model_columns(b)
    equal = len(models_a) == 1 and models_a == models_b
    out.append(Comparison("model_name/model_version columns", _models_text(models_a), _models_text(models_b), equal,
                          f"every row {_models_text(models_a)}" if equal
                          else f"airflow {_models_text(models_a)} vs dagster {_models_text(models_b)}"))
    return out


def _distribution(values: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return " ".join(f"{k}={n}" for k, n in sorted(counts.items()))


def _mean(values: Sequence[Any] | None) -> str:
    numbers = [float(v) for v in values or [] if v is not None]
    return f"mean {sum(numbers) / len(numbers):.6f}" if numbers else "none"


def _model_columns(columns: Mapping[str, list[Any]]) -> set[tuple[Any, Any]]:
    names, versions = columns.get("model_name"), columns.get("model_version")
    if names is None or versions is None:
        return set()
    return {(n, str(v)) for n, v in zip(names, versions, strict=True)}


def _models_text(models: set[tuple[Any, Any]]) -> str:
    return ", ".join(f"{n} v{v}" for n, v in sorted(models, key=str)) or "no model columns"


def expected_input(template: str, day: date) -> str:
    return template.replace("{ds}", day.isoformat())


def compare_partition(airflow: Mapping[str, Any], dagster: Mapping[str, Any], template: str,
                      allowed_days: Iterable[date]) -> list[Comparison]:
    """Runs without an input URI: both succeeded and read the partition of the day before the trigger.

    `allowed_days`: partition_date() of the earliest and latest possible trigger time (one day, or
    two when midnight UTC passed while the runs were being started).
    """
    allowed = sorted(set(allowed_days))
    out = [Comparison("partition runs succeeded", str(airflow.get("state")), str(dagster.get("state")),
                      bool(airflow.get("succeeded")) and bool(dagster.get("succeeded")),
                      f"airflow {airflow.get('run_id')} {airflow.get('state')}, dagster {dagster.get('run_id')} "
                      f"{dagster.get('state')}" + "".join(f"; {o}: {r.get('error')}" for o, r in
                                                          (("airflow", airflow), ("dagster", dagster)) if r.get("error")),
                      check="partition runs both succeed")]
    reported = {}
    for name, outcome in (("airflow", airflow), ("dagster", dagster)):
        load, summary = step_result(outcome, "load-inference-data"), outcome.get("summary") or {}
        reported[name] = (load.get("input_uri") or summary.get("input_uri"),
                          _str_or_none(load.get("partition_date") or summary.get("partition_date")))
    (uri_a, day_a), (uri_b, day_b) = reported["airflow"], reported["dagster"]
    expected = {d.isoformat(): expected_input(template, d) for d in allowed}
    day_ok = day_a is not None and day_a == day_b and day_a in expected
    out.append(Comparison("partition date", day_a, day_b, day_ok,
                          f"both {day_a}, the UTC day before the trigger" if day_ok else
                          f"airflow {day_a}, dagster {day_b}; the day before the trigger (UTC): "
                          f"{' or '.join(expected) or 'unknown'}"))
    want = expected.get(day_a or "") if day_ok else None
    uri_ok = bool(uri_a) and uri_a == uri_b and (uri_a == want if want else uri_a in expected.values())
    out.append(Comparison("partition input", uri_a, uri_b, uri_ok,
                          f"both read {uri_a} (template {template})" if uri_ok else
                          f"airflow {uri_a}, dagster {uri_b}; expected {' or '.join(expected.values()) or '?'} "
                          f"(template {template})"))
    return out


# --- fetching what the comparisons need (MLflow, the object store) ------------------------------


def mlflow_run(run_id: str) -> tuple[dict[str, float], dict[str, str], dict[str, str]]:
    """(metrics, tags, params) of an MLflow run."""
    run = mlflow_client().get_run(run_id)
    return dict(run.data.metrics), dict(run.data.tags), dict(run.data.params)


def own_ids(outcome: Mapping[str, Any], *more: str | None) -> list[str]:
    """The strings that name this run: its pipeline run id, its workspace name, and `more`."""
    from ml.core.workspace import safe_run_name

    ids = [str(outcome.get("run_id") or ""), *(str(m) for m in more if m)]
    if outcome.get("run_id"):
        ids.append(safe_run_name(str(outcome["run_id"])))
    return [i for i in ids if i]


def parity_train(airflow: Mapping[str, Any], dagster: Mapping[str, Any]) -> list[Comparison]:
    run_a = step_result(airflow, "train").get("mlflow_run_id") or step_result(airflow, "evaluate").get("mlflow_run_id")
    run_b = step_result(dagster, "train").get("mlflow_run_id") or step_result(dagster, "evaluate").get("mlflow_run_id")
    if not run_a or not run_b:
        return [Comparison("training runs", run_a, run_b, False, "a train outcome has no mlflow_run_id",
                           check="training runs both name their MLflow run")]
    say(f"parity: MLflow runs airflow={run_a} dagster={run_b}")
    metrics_a, tags_a, params_a = mlflow_run(run_a)
    metrics_b, tags_b, params_b = mlflow_run(run_b)
    ids_a, ids_b = own_ids(airflow, run_a), own_ids(dagster, run_b)
    return [compare_test_metrics(metrics_a, metrics_b), compare_lineage_tags(tags_a, tags_b, ids_a, ids_b),
            compare_params(params_a, params_b, ids_a, ids_b)]


def parity_infer(airflow: Mapping[str, Any], dagster: Mapping[str, Any]) -> list[Comparison]:
    sum_a = {**step_result(airflow, "save-predictions"), **(airflow.get("summary") or {})}
    sum_b = {**step_result(dagster, "save-predictions"), **(dagster.get("summary") or {})}
    out = [compare_model_version(sum_a, sum_b)]
    uri_a = sum_a.get("predictions_uri") or sum_a.get("output_uri")
    uri_b = sum_b.get("predictions_uri") or sum_b.get("output_uri")
    if not uri_a or not uri_b:
        return [*out, Comparison("predictions", uri_a, uri_b, False, "an infer outcome has no predictions_uri",
                                 check="inference runs both name their predictions")]
    say(f"parity: predictions airflow={uri_a} dagster={uri_b}")
    id_column = "id"  # ml.steps writes the id as `id` whatever ML_ID_COLUMN the input has
    return [*out, *compare_predictions(read_predictions(uri_a), read_predictions(uri_b), id_column)]


def parity_partition(pair: Mapping[str, Any]) -> list[Comparison]:
    from ml.data.partitions import partition_date

    template = pair.get("template") or os.environ.get("ML_INFERENCE_INPUT_TEMPLATE") or DEFAULT_TEMPLATE
    window = [datetime.fromisoformat(t) for t in pair.get("triggered_between") or []] or [datetime.now(UTC)]
    window = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in window]
    days = {partition_date(t) for t in window}
    say(f"parity: partition template {template}, trigger window {[t.isoformat() for t in window]} -> {sorted(days)}")
    return compare_partition(pair["airflow"], pair["dagster"], template, days)


SECTIONS: dict[str, tuple[str, Callable[[Mapping[str, Any]], list[Comparison]]]] = {
    "train": ("training", lambda p: parity_train(p["airflow"], p["dagster"])),
    "infer": ("inference", lambda p: parity_infer(p["airflow"], p["dagster"])),
    "partition": ("partition", parity_partition),
}


def run(pairs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every comparison of every section, each one check; the parity table's rows."""
    rows: list[dict[str, Any]] = []

    def add(c: Comparison) -> None:
        check(c.check_name, bool(c.equal), c.detail)
        rows.append(c.row())

    for key, (label, compare) in SECTIONS.items():
        pair = pairs.get(key) or {}
        missing = [o for o in ORCHESTRATORS if not pair.get(o)]
        if missing:
            add(Comparison(f"{label} pair", "present" if pair.get("airflow") else "missing",
                           "present" if pair.get("dagster") else "missing", False,
                           f"no {' and no '.join(missing)} {key} outcome (the run failed or was not made)",
                           check=f"{label} runs on both orchestrators to compare"))
            continue
        try:
            for comparison in compare(pair):
                add(comparison)
        except Exception as exc:
            add(Comparison(f"{label} comparison", "error", "error", False, one_line(exc),
                           check=f"{label} comparison ran"))
    return rows


def main() -> int:
    return emit(parity=run(json.load(sys.stdin)))


if __name__ == "__main__":
    raise SystemExit(main())

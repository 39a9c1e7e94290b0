"""e2e phase "models", checked inside the ml image (`stack.in_ml_image("models", ...)`).

A second model of the catalog (`tests/e2e/models.py` adds it): a synthetic two-class set with other
column names (`msg_id`, `body`, `is_spam`: ham/spam), trained and labelled through both
orchestrators while the demo model trains and labels too. Three commands, each printing one JSON
object last:

    python -m tests.e2e.in_image.models seed --prefix s3://datasets/e2e-models/M/     # upload its data
    python -m tests.e2e.in_image.models champions --model M          # {"champions": {model: version}}
    python -m tests.e2e.in_image.models verify --model D:id --model M:msg_id < outcomes.json  # D: the default
    # -> {"checks": [...], "models": [...]}

`outcomes.json`: {"train": {model: {"airflow": outcome, "dagster": outcome}}, "infer": {...},
"before": {model: [versions before the phase]}} (the outcomes `make train|infer MODEL=...` printed).
`verify` checks, per model: every run succeeded on its own model; the new versions are exactly the
ones its runs registered; its champion and history are its own (no entry names the other model's
runs); its predictions carry its name, keep its id column and land in its own location; and
parity: the same data and seed give identical test metrics, lineage tags and params on both
orchestrators, and the same version gives identical predictions row by row.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from ml.core import storage

from ..checklist import check, emit, one_line
from . import parity
from .common import mlflow_client, read_predictions

COLUMNS = ("msg_id", "body", "is_spam")
WORDS = {"ham": ["meeting", "lunch", "report", "family", "weekend", "project", "thanks", "dinner"],
         "spam": ["winner", "prize", "free", "claim", "urgent", "offer", "cash", "bonus"]}
FILLER = ["please", "see", "the", "about", "today", "this", "your", "now"]


def rows(n: int, seed: int, labelled: bool) -> list[dict[str, str]]:
    """A separable two-class set: each text mixes four words of its class with filler."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "spam" if i % 2 else "ham"
        words = rng.sample(WORDS[label], 4) + rng.sample(FILLER, 3)
        rng.shuffle(words)
        row = {"msg_id": f"m{seed}-{i:04d}", "body": " ".join(words), "is_spam": label}
        out.append(row if labelled else {k: v for k, v in row.items() if k != "is_spam"})
    return out


def cmd_seed(prefix: str) -> dict[str, Any]:
    """The model's training set and its inference input, under `prefix`."""
    uris = {"train": f"{prefix}train.csv", "input": f"{prefix}new.csv"}
    with tempfile.TemporaryDirectory() as tmp:
        for key, n, seed, labelled in (("train", 400, 21, True), ("input", 60, 22, False)):
            path = Path(tmp) / f"{key}.csv"
            data = rows(n, seed, labelled)
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(data[0]))
                writer.writeheader()
                writer.writerows(data)
            storage.publish(path, uris[key])
    check("models: the second model's data (msg_id, body, is_spam: ham/spam) is uploaded", True,
          f"{uris['train']} (400 rows), {uris['input']} (60 rows)")
    return uris


def versions(model: str) -> list[str]:
    return sorted((str(v.version) for v in mlflow_client().search_model_versions(f"name='{model}'")), key=int)


def champion(model: str) -> str | None:
    """The model's champion version; None while the model or its alias does not exist yet."""
    from mlflow.exceptions import MlflowException

    try:
        return str(mlflow_client().get_model_version_by_alias(model, "champion").version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def cmd_champions(models: list[str]) -> dict[str, Any]:
    return {"champions": {m: champion(m) for m in models}, "versions": {m: versions(m) for m in models}}


# --- verify ---------------------------------------------------------------------------------------


def _own_runs(model: str, trains: dict[str, Any]) -> set[str]:
    return {f"{o}:{out.get('run_id')}" for o, out in trains.items() if out}


def verify_model(model: str, runs: dict[str, Any], before: list[str], other_runs: set[str],
                 id_column: str, exact: bool) -> dict[str, Any]:
    """Every check of one model; its entry of e2e.json's `models`."""
    from ml.core.config import settings_for
    from ml.lifecycle import history

    trains, infers = runs["train"].get(model) or {}, runs["infer"].get(model) or {}
    entry: dict[str, Any] = {"model": model}
    for orchestrator in parity.ORCHESTRATORS:
        train, infer = trains.get(orchestrator) or {}, infers.get(orchestrator) or {}
        t, i = train.get("summary") or {}, infer.get("summary") or {}
        entry[orchestrator] = {
            "train_run": train.get("run_id"), "version": t.get("model_version"),
            "test_macro_f1": (t.get("metrics") or {}).get("test_macro_f1"), "promoted": t.get("promoted"),
            "infer_run": infer.get("run_id"), "infer_version": i.get("model_version"), "rows": i.get("rows"),
            "predictions_uri": i.get("predictions_uri"), "drift": i.get("drift"),
        }
        check(f"models: {model} trains and labels on {orchestrator}, under its own name",
              bool(train.get("succeeded") and infer.get("succeeded")) and t.get("model_name") == model == i.get("model_name"),
              f"train {train.get('state')} ({t.get('model_name')} v{t.get('model_version')}), "
              f"infer {infer.get('state')} ({i.get('model_name')} v{i.get('model_version')})")
    made = sorted({str(entry[o]["version"]) for o in parity.ORCHESTRATORS if entry[o]["version"]}, key=int)
    new = [v for v in versions(model) if v not in before]
    # the default model may be trained by other phases at the same time: its new versions include ours
    check(f"models: {model}'s new versions are {'exactly ' if exact else ''}the ones its two runs registered",
          len(made) == 2 and (new == made if exact else set(made) <= set(new)), f"new {new}, registered {made}")
    champ = champion(model)
    check(f"models: {model}'s champion is one of its own versions", champ in versions(model), f"v{champ}")
    moves = history.read(settings_for(model_name=model))
    strangers = [m for m in moves if m.actor in other_runs or m.on_behalf_of in other_runs]
    check(f"models: {model}'s champion history is its own", bool(moves) and not strangers
          and all(m.new in versions(model) for m in moves if m.moved),
          f"{len(moves)} entries; by {sorted({m.actor for m in moves})}"
          + (f"; another model's runs: {[m.actor for m in strangers]}" if strangers else ""))
    location = settings_for(model_name=model).results_uri
    for orchestrator in parity.ORCHESTRATORS:
        uri = entry[orchestrator]["predictions_uri"]
        if not uri:
            continue
        table = read_predictions(uri)
        names = {str(v) for v in table.column("model_name").to_pylist()}
        check(f"models: {model}'s {orchestrator} predictions are its own, keep {id_column!r}, in its location",
              names == {model} and id_column in table.column_names and uri.startswith(location.rstrip("/") + "/"),
              f"{table.num_rows} rows at {uri}; model_name {sorted(names)}; columns {table.column_names[:3]}...")
    entry["parity"] = model_parity(model, trains, infers, id_column)
    return entry


def model_parity(model: str, trains: dict[str, Any], infers: dict[str, Any], id_column: str) -> bool:
    """Airflow and Dagster mean the same thing for this model: training and inference compared."""
    comparisons: list[parity.Comparison] = []
    a, b = trains.get("airflow") or {}, trains.get("dagster") or {}
    run_a = ((a.get("results") or {}).get("train") or {}).get("mlflow_run_id")
    run_b = ((b.get("results") or {}).get("train") or {}).get("mlflow_run_id")
    if run_a and run_b:
        metrics_a, tags_a, params_a = parity.mlflow_run(run_a)
        metrics_b, tags_b, params_b = parity.mlflow_run(run_b)
        ids_a, ids_b = parity.own_ids(a, run_a), parity.own_ids(b, run_b)
        comparisons += [parity.compare_test_metrics(metrics_a, metrics_b),
                        parity.compare_lineage_tags(tags_a, tags_b, ids_a, ids_b),
                        parity.compare_params(params_a, params_b, ids_a, ids_b)]
    ia, ib = infers.get("airflow") or {}, infers.get("dagster") or {}
    sa, sb = ia.get("summary") or {}, ib.get("summary") or {}
    if sa.get("predictions_uri") and sb.get("predictions_uri"):
        comparisons.append(parity.compare_model_version(sa, sb))
        comparisons += parity.compare_predictions(read_predictions(sa["predictions_uri"]),
                                                  read_predictions(sb["predictions_uri"]), id_column)
    equal = bool(comparisons) and len(comparisons) >= 5 and all(c.equal for c in comparisons)
    failed = [c.check_name for c in comparisons if not c.equal]
    check(f"models: {model} parity (identical test metrics, lineage, params and predictions on both)", equal,
          f"{len(comparisons)} comparisons" + (f"; differ: {failed}" if failed else ""))
    return equal


def cmd_verify(models: list[str], id_columns: dict[str, str], runs: dict[str, Any]) -> list[dict[str, Any]]:
    every_run = {m: _own_runs(m, runs["train"].get(m) or {}) for m in models}
    out = []
    for model in models:
        others = set().union(*(r for m, r in every_run.items() if m != model))
        try:
            out.append(verify_model(model, runs, (runs.get("before") or {}).get(model) or [], others,
                                    id_columns.get(model, "id"), exact=model != models[0]))
        except Exception as exc:  # report, then go on with the next model
            check(f"models: {model} verified", False, one_line(exc))
            out.append({"model": model, "parity": False})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    seed = sub.add_parser("seed")
    seed.add_argument("--prefix", required=True)
    for name in ("champions", "verify"):
        p = sub.add_parser(name)
        p.add_argument("--model", action="append", required=True, help="model[:id column], repeatable")
    args = parser.parse_args(argv)
    extra: dict[str, Any] = {}
    if args.command == "seed":
        extra["uris"] = cmd_seed(args.prefix)
    else:
        models = [m.split(":")[0] for m in args.model]
        if args.command == "champions":
            extra = cmd_champions(models)
        else:
            ids = {m.split(":")[0]: m.split(":")[1] for m in args.model if ":" in m}
            extra["models"] = cmd_verify(models, ids, json.load(sys.stdin))
    return emit(**extra)


if __name__ == "__main__":
    raise SystemExit(main())

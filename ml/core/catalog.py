"""The model catalog: one YAML file that declares every model the stack serves.

Why a file: a team runs several classifiers (sentiment, spam, ticket routing) through the same
pipelines, each with its own data, columns, training parameters, gate, promotion mode, schedule
and drift policy. Each is an entry of the catalog; both orchestrators build one set of pipelines
per entry (`ml/pipelines/models.py`) and every step resolves its settings from the entry of the
model it runs for (`ml.core.config.settings_for`). Format (docs/models.md):

    models:
      text-classifier: {}                  # the default model (ML_MODEL_NAME): all from ML_*
      support-tickets:
        description: Route tickets to a team
        dataset_uri: s3://datasets/tickets/train.csv
        text_column: message
        label_column: category
        id_column: ticket_id
        epochs: 5
        inference_schedule: "0 6 * * *"

A field is the `ML_<FIELD>` setting of the same name for that model (`ENTRY_FIELDS`); a field
left out is the `ML_*` value, except those no two models may share (`SCOPED`), which default to
the `ML_*` value scoped by the model's name. This module reads and checks the file's shape and
names; `ml.core.config` checks each value with the settings' own types and bounds, so a bound is
written once. Every mistake is one line naming the file, the model and the field.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ml.core.errors import BadInputError

#: The settings a catalog entry may set (each is `ML_<FIELD>` for that model).
ENTRY_FIELDS: tuple[str, ...] = (
    # data
    "dataset_uri", "text_column", "label_column", "id_column", "validation_fraction", "test_fraction",
    "train_on_new_data", "new_data_prefix", "inference_input_template", "inference_schedule",
    # base model and training
    "base_model", "epochs", "learning_rate", "batch_size", "max_length", "warmup_ratio", "weight_decay",
    "max_grad_norm", "early_stopping_patience", "min_train_steps", "max_train_samples", "max_eval_samples", "seed",
    # quality gate and promotion
    "min_test_macro_f1", "promotion_metric", "promotion_mode",
    # drift
    "drift_blocking", "drift_warn_psi", "drift_alert_psi",
    # where its runs and results go (unset: scoped, see SCOPED)
    "experiment_name", "results_uri",
)
#: Fields for people only (UIs), not settings.
INFO_FIELDS: tuple[str, ...] = ("description",)
#: Settings no two models may share; unset for a model other than the default, they are the
#: ML_* value scoped by the model's name (`scoped_defaults`). `work_uri` is never set by an entry.
SCOPED: tuple[str, ...] = ("experiment_name", "results_uri", "work_uri", "new_data_prefix")
#: A model name: a registered model name, an Airflow DAG id part and (`-` as `_`) a Dagster name.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"
VARIABLE, TEXT_VARIABLE = "ML_MODEL_CATALOG", "ML_MODEL_CATALOG_TEXT"


class CatalogError(BadInputError):
    """Mistakes in the catalog: one line each (what, in which model and field, how to fix)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Entry:
    """One model of the catalog: its name and the settings it sets (ML_* for the rest)."""

    name: str
    values: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    """Every model by name, in file order; `default` is the model commands use when none is named."""

    source: str  # the file, or a note where it came from (for messages)
    default: str
    entries: Mapping[str, Entry]
    from_file: bool = False

    def names(self) -> list[str]:
        return list(self.entries)

    def is_default(self, name: str) -> bool:
        return name == self.default

    def entry(self, name: str | None) -> Entry:
        """The entry of `name` (None: the default). A file names every model: another name is a mistake.

        Without a file any name is a model of its own, all from ML_* (the embedded CLI's `--model-name`).
        """
        name = name or self.default
        if name in self.entries:
            return self.entries[name]
        if self.from_file:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise BadInputError(f"model {name!r} is not in the model catalog {self.source}{hint}; models: "
                                f"{', '.join(self.names())}; add an entry for it there, or pick one of these")
        if not NAME_PATTERN.match(name):
            raise BadInputError(f"model name {name!r} is not valid: use {NAME_RULE}")
        return Entry(name)


#: `inference_schedule`: `@daily` (00:00 UTC), a daily cron `M H * * *` (UTC), or `none` (manual runs only).
SCHEDULE_PATTERN = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")


def schedule_time(value: str) -> tuple[int, int] | None:
    """(hour, minute) UTC of a daily schedule; None for `none`. ValueError names the grammar.

    Daily only: a run labels the UTC day before it was due (ml.data.partitions), so a schedule is
    the time of day at which yesterday is labelled.
    """
    text = value.strip()
    if text.lower() in ("none", "manual", ""):
        return None
    if text == "@daily":
        return 0, 0
    found = SCHEDULE_PATTERN.match(text)
    if found and int(found[2]) < 24 and int(found[1]) < 60:
        return int(found[2]), int(found[1])
    raise ValueError("must be @daily, a daily cron 'M H * * *' (UTC, e.g. '0 6 * * *') or none")


def dagster_name(model: str) -> str:
    """A model's name in Dagster names (letters, digits and `_` only): `support-tickets` -> `support_tickets`."""
    return model.replace("-", "_")


def scoped_defaults(model: str, base: Mapping[str, Any]) -> dict[str, Any]:
    """What a non-default model gets for the `SCOPED` settings it leaves unset: the ML_* value, scoped.

    `models/<model>` under the work and results locations cannot clash with a run's folder (those
    end in `-<8 hex>`) or a day's (`daily/`); the new-data prefix nests under the default's, where
    the longest prefix owns a file (`ml.data.new_data.owner`).
    """
    return {
        "experiment_name": f"{base['experiment_name']}/{model}",
        "results_uri": f"{str(base['results_uri']).rstrip('/')}/models/{model}",
        "work_uri": f"{str(base['work_uri']).rstrip('/')}/models/{model}",
        "new_data_prefix": f"{str(base['new_data_prefix']).rstrip('/')}/{model}/",
    }


def _yaml_error(source: str, exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{source}:{where} not valid YAML: {problem}; check the indentation and quote values with ':', '*' or '#'"


def _entry(source: str, name: Any, raw: Any, errors: list[str]) -> Entry | None:
    where = f"{source}: model {name!r}"
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors.append(f"{where}: not a valid model name; use {NAME_RULE}")
        return None
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(f"{where}: must be a mapping of fields (field: value), or {{}} for all ML_* settings")
        return None
    values, description = {}, ""
    for key, value in raw.items():
        if key in INFO_FIELDS:
            description = str(value or "")
        elif key in ENTRY_FIELDS:
            values[key] = value
        else:
            close = difflib.get_close_matches(str(key), ENTRY_FIELDS + INFO_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            errors.append(f"{where}: field {key!r} is not a catalog field; {hint}fields: docs/models.md")
    return Entry(name, values, description)


def parse(text: str, source: str, default: str) -> Catalog:
    """The catalog in `text` (YAML); `default` (ML_MODEL_NAME) is always a model of it."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError([_yaml_error(source, exc)]) from None
    if doc is None:
        doc = {"models": {}}
    if not isinstance(doc, Mapping) or set(doc) - {"models"}:
        extra = sorted(set(doc) - {"models"}) if isinstance(doc, Mapping) else []
        raise CatalogError([f"{source}: the top level must be one mapping `models:` (found "
                            f"{', '.join(map(repr, extra)) if extra else type(doc).__name__}); see docs/models.md"])
    models = doc.get("models") or {}
    if not isinstance(models, Mapping):
        raise CatalogError([f"{source}: `models` must be a mapping of model name to fields"])
    errors: list[str] = []
    entries = {e.name: e for name, raw in models.items() if (e := _entry(source, name, raw, errors)) is not None}
    by_dagster_name: dict[str, str] = {}
    for name in entries:
        other = by_dagster_name.setdefault(dagster_name(name), name)
        if other != name:
            errors.append(f"{source}: models {other!r} and {name!r} have the same Dagster name "
                          f"{dagster_name(name)!r} ('-' reads as '_'); rename one")
    if errors:
        raise CatalogError(errors)
    if default not in entries:  # the default model always exists, all from ML_* unless listed
        entries = {default: Entry(default), **entries}
    return Catalog(source=source, default=default, entries=entries, from_file=True)


@lru_cache(maxsize=8)
def _parsed(text: str, source: str, default: str) -> Catalog:
    return parse(text, source, default)


def load(path: str, default: str, text: str | None = None) -> Catalog:
    """The catalog of `path` (ML_MODEL_CATALOG), or of `text` (ML_MODEL_CATALOG_TEXT, which the
    launchers hand to step containers that do not mount the file); none: only `default`.

    Read again on every call (cheap: parsed once per content), so a changed file is seen by the
    next DAG parse, code-location load or step.
    """
    if text is None:
        text = os.environ.get(TEXT_VARIABLE) or None
    if text is not None:
        return _parsed(text, path or TEXT_VARIABLE, default)
    if not path:
        return Catalog(source="(no catalog: ML_MODEL_CATALOG is empty)", default=default,
                       entries={default: Entry(default)})
    try:
        with open(path, encoding="utf-8") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise BadInputError(f"ML_MODEL_CATALOG={path} does not exist; create it (docs/models.md) or leave "
                            "ML_MODEL_CATALOG empty for one model from the ML_* settings") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"ML_MODEL_CATALOG={path} cannot be read: {exc}") from None
    return _parsed(content, path, default)


def catalog_text(path: str) -> str | None:
    """The file's content for a launcher to hand on (`TEXT_VARIABLE`); None without a catalog."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None  # the step then reports the missing file itself, in one line

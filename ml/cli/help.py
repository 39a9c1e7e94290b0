"""What `--help` says beyond each option's text: real default values, and the settings a command reads.

Why: `--help` is where a new user learns what a command does with their data. An option whose
default comes from a setting shows the value it has now (and the variable that changes it), not
just `$ML_EPOCHS`; the settings a command reads but takes no option for (the column names, the
model name) are listed under it with their values, so own data needs no guessing.
"""

from __future__ import annotations

from typing import Any

from ml.core.config import Settings, get_settings
from ml.core.errors import BadInputError

#: The settings each command reads that are not its options (ML_<NAME> variables).
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "run-training": ("text_column", "label_column", "id_column", "model_name", "experiment_name",
                     "min_test_macro_f1", "promotion_mode", "validation_fraction", "test_fraction", "max_length",
                     "device", "home"),
    "load-training-data": ("text_column", "label_column", "id_column", "validation_fraction", "test_fraction", "home"),
    "train": ("max_length", "device", "precision", "experiment_name", "home"),
    "register": ("model_name", "min_test_macro_f1"),
    "promote": ("promotion_mode", "promotion_metric"),
    "run-inference": ("text_column", "id_column", "model_name", "inference_input_template", "results_uri",
                      "drift_blocking", "home"),
    "load-inference-data": ("text_column", "id_column", "inference_input_template", "home"),
    "history": ("model_name",),
    "versions": ("model_name", "promotion_metric"),
}


def current() -> Settings | None:
    """The settings from the environment now, or None when a value is invalid (the command reports it)."""
    try:
        return get_settings()
    except BadInputError:
        return None


def variable(name: str) -> str:
    """The environment variable of a settings field."""
    return "MLFLOW_TRACKING_URI" if name == "mlflow_tracking_uri" else f"ML_{name.upper()}"


def value_of(name: str) -> Any:
    """A setting's value now (the field's default when the environment is invalid)."""
    settings = current()
    return getattr(settings, name) if settings is not None else Settings.model_fields[name].default


def default_note(name: str) -> str:
    """`default: 3, env: ML_EPOCHS` for an option that overrides a setting."""
    value = value_of(name)
    shown = "none" if value is None or value == "" else value
    return f"default: {shown}, env: {variable(name)}"


def epilog(command: str) -> str | None:
    """The settings `command` reads from the environment, with their values, for its `--help`."""
    names = ENVIRONMENT.get(command)
    if not names:
        return None
    lines = ["settings it reads from the environment, with their values now (`python -m ml settings` lists all):"]
    for name in names:
        lines.append(f"  {variable(name)}={value_of(name)}")
        lines.append(f"      {Settings.model_fields[name].description or ''}")
    return "\n".join(lines)

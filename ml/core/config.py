"""All configuration, typed and validated in one place.

Every field reads an environment variable (`ML_<FIELD>`, plus the standard `MLFLOW_TRACKING_URI`).
The defaults make the *embedded mode* work with no services: storage under `ML_HOME` and MLflow
in a local SQLite file. Setting `ML_S3_ENDPOINT` switches storage to an S3-compatible server.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.core import catalog
from ml.core.errors import BadInputError


class Settings(BaseSettings):
    """Pipeline settings; `python -m ml settings` prints them (secrets masked)."""

    model_config = SettingsConfigDict(env_prefix="ML_", extra="ignore", validate_default=True, populate_by_name=True)

    # --- storage -----------------------------------------------------------------------------
    home: Path = Field(Path(".ml"), description="Embedded mode: root folder for storage and MLflow.")
    s3_endpoint: str = Field("", description="host:port or URL of an S3 server; empty = local storage.")
    s3_access_key: SecretStr = Field(SecretStr(""), description="S3 access key.")
    s3_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key.")
    s3_region: str = Field("us-east-1", description="S3 region (MinIO ignores it).")
    data_bucket: str = Field("datasets", description="Bucket holding input datasets.")
    work_uri: str = Field("", description="Run workspaces; default s3://ml-work or <home>/work.")
    results_uri: str = Field("", description="Published predictions; default s3://predictions or <home>/predictions.")

    # --- http(s) data URIs (ml/safe_http.py) ---------------------------------------------------
    http_allowed_networks: str = Field(
        "", description="Comma-separated networks (CIDR, e.g. 10.1.2.0/24) or host names that http(s) data URIs may "
        "reach although internal; by default only public addresses are fetched.")
    http_max_bytes: int = Field(4 * 1024**3, ge=1, description="Largest http(s) download in bytes (default 4 GiB).")

    # --- tracking and registry ---------------------------------------------------------------
    mlflow_tracking_uri: str = Field(
        "",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "ML_MLFLOW_TRACKING_URI"),
        description="MLflow server; default sqlite:///<home>/mlflow.db.",
    )
    mlflow_public_uri: str = Field("", description="MLflow URL for links shown to people (UI).")
    experiment_name: str = Field("text-classification", description="MLflow experiment of the training runs.")
    model_name: str = Field(
        "text-classifier", description="Registered model name; one per task (label set and columns) keeps versions "
        "comparable; with a catalog, the default model.")
    model_catalog: str = Field(
        "", description="Model catalog (YAML): every model with its own data, columns and policies (docs/models.md); "
        "empty = one model, ML_MODEL_NAME, from the ML_* settings."
    )
    promotion_metric: str = Field("test_macro_f1", description="Metric that decides the champion.")
    min_test_macro_f1: float = Field(0.5, ge=0, le=1, description="Quality gate: a model below is not registered.")
    promotion_mode: Literal["auto", "approval"] = Field(
        "auto", description="auto = the best version of the task becomes champion; approval = a person decides (approve)."
    )

    # --- orchestrated runs -------------------------------------------------------------------
    dataset_uri: str = Field(
        "s3://datasets/demo/train.csv",
        description="Labelled training data: CSV, TSV, JSONL or Parquet with a text and a label column; a local path, "
        "s3://, http(s):// or hf:// URI. Embedded mode (no ML_S3_ENDPOINT): <home>/demo/train.csv.",
    )
    inference_input_template: str = Field(
        "s3://datasets/inference/{ds}.csv",
        description="Daily inference input; {ds} becomes YYYY-MM-DD. Embedded mode: <home>/inference/{ds}.csv.",
    )
    inference_schedule: str = Field(
        "@daily", description="When the day before is labelled: @daily (00:00 UTC), a daily cron 'M H * * *' (UTC) "
        "or none (manual runs only)."
    )

    # --- new data starts training (ml/new_data.py) ---------------------------------------------
    train_on_new_data: bool = Field(
        False, description="true = a new or changed training file under ML_NEW_DATA_PREFIX starts one training run on it "
        "(Dagster sensor, Airflow asset watcher)."
    )
    new_data_prefix: str = Field("s3://datasets/training/", description="s3:// folder watched for new training files.")
    new_data_poll_s: int = Field(15, ge=5, le=3600, description="Seconds between two listings of ML_NEW_DATA_PREFIX.")

    # --- data ------------------------------------------------------------------------------
    text_column: str = Field("text", description="Column of your data holding the input text.")
    label_column: str = Field("label", description="Column of your training data holding the class label.")
    id_column: str = Field("id", description="Row id column of your data; rows are numbered when it is absent.")
    validation_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of rows held out for validation.")
    test_fraction: float = Field(0.1, gt=0, lt=0.5, description="Share of rows held out for the test.")

    # --- model and training ----------------------------------------------------------------
    base_model: str = Field("tiny", description="'tiny' (offline preset), hub id, local folder or s3:// folder.")
    epochs: int = Field(3, ge=1, le=100, description="Training epochs (1-100; early stopping may end sooner).")
    learning_rate: float | None = Field(None, gt=0, lt=1, description="Peak learning rate; unset = 1e-3 for tiny, 5e-5 otherwise.")
    batch_size: int = Field(32, ge=1, le=4096, description="Training batch size (1-4096).")
    max_length: int = Field(128, ge=8, le=8192, description="Tokens per text (longer texts are truncated).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with a rising learning rate.")
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    early_stopping_patience: int = Field(2, ge=1, description="Epochs without validation gain before stopping.")
    min_train_steps: int = Field(
        150, ge=0, le=100_000,
        description="Fewest optimiser steps when the epoch count is the default: small datasets get more epochs, no early stop before (0 = off).",
    )
    max_train_samples: int | None = Field(None, ge=1, description="Cap the training split (quick runs).")
    max_eval_samples: int | None = Field(None, ge=1, description="Cap validation and test splits.")
    seed: int = Field(42, ge=0, description="Random seed of the split, sampling and training.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when present.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="Arithmetic of predict, evaluate, serving and training; auto = bf16 on CUDA and on "
        "CPUs with AMX or AVX512-BF16, fp32 elsewhere (ml/precision.py)."
    )

    # --- inference -------------------------------------------------------------------------
    predict_batch_tokens: int = Field(8192, ge=64, description="Token budget per inference batch.")
    predict_max_batch_size: int = Field(256, ge=1, description="Most texts per inference batch.")
    chunk_rows: int = Field(50_000, ge=1, description="Rows read per chunk when streaming input.")
    num_threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = torch default.")

    # --- drift monitoring (ml/drift.py, the check-drift step) -----------------------------------
    drift_blocking: bool = Field(
        False, description="true = drift (a PSI at or above ML_DRIFT_ALERT_PSI) fails the inference run before publishing; "
        "false = it is reported as a warning."
    )
    drift_warn_psi: float = Field(0.1, gt=0, description="PSI from which a drift statistic is a warning.")
    drift_alert_psi: float = Field(0.25, gt=0, description="PSI from which a drift statistic is drift.")

    # --- step cache (ml/pipelines/cache.py) -----------------------------------------------------
    cache: Literal["on", "off", "refresh"] = Field(
        "on", description="Step cache: on = reuse a step whose inputs, parameters and code are unchanged; off = run every "
        "step and record nothing; refresh = run every step and replace its entry.")
    cache_retention_days: int = Field(
        30, ge=1, le=3650, description="Days a cache entry is kept; `python -m ml cache prune` removes older ones.")

    retry_attempts: int = Field(5, ge=1, le=20, description="Attempts for object-store and MLflow calls (backoff between).")

    # --- provenance ------------------------------------------------------------------------
    orchestrator: str = Field("cli", description="Who runs the step (airflow, dagster, cli).")
    image: str = Field("", description="Container image the step runs in (recorded as a tag).")
    image_id: str = Field("", description="Immutable id of that image (digest), set by the launcher (recorded as a tag).")
    git_sha: str = Field("", description="Source revision, '-dirty' when built from uncommitted changes (recorded as a tag).")
    result_path: str = Field(
        "", description="Also write the step's JSON result to this file (Kubernetes: the XCom sidecar's return.json)."
    )

    @field_validator("s3_endpoint")
    @classmethod
    def _strip_endpoint(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("new_data_prefix")
    @classmethod
    def _s3_folder(cls, value: str) -> str:
        if not value.startswith("s3://") or len(value.rstrip("/")) <= len("s3://"):
            raise ValueError("must be an s3:// folder such as s3://datasets/training/")
        return value.rstrip("/") + "/"

    @field_validator("inference_schedule", mode="before")
    @classmethod
    def _daily_schedule(cls, value: object) -> object:
        if value is None or value is False:  # YAML's `off`/`no`, or null
            return "none"
        if isinstance(value, str):
            catalog.schedule_time(value)  # ValueError: the grammar
        return value

    @field_validator("drift_alert_psi")
    @classmethod
    def _alert_above_warn(cls, value: float, info: ValidationInfo) -> float:
        warn = info.data.get("drift_warn_psi")
        if warn is not None and value <= warn:
            raise ValueError(f"must be above ML_DRIFT_WARN_PSI ({warn})")
        return value

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.s3_endpoint:  # embedded mode: the stack's s3:// defaults become folders under home
            fields = Settings.model_fields
            if self.dataset_uri == fields["dataset_uri"].default and "dataset_uri" not in self.model_fields_set:
                self.dataset_uri = str(self.home.resolve() / "demo" / "train.csv")
            template = fields["inference_input_template"]
            if self.inference_input_template == template.default and "inference_input_template" not in self.model_fields_set:
                self.inference_input_template = str(self.home.resolve() / "inference" / "{ds}.csv")
        if not self.work_uri:
            self.work_uri = "s3://ml-work" if self.s3_endpoint else str(self.home.resolve() / "work")
        if not self.results_uri:
            self.results_uri = "s3://predictions" if self.s3_endpoint else str(self.home.resolve() / "predictions")
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home.resolve() / 'mlflow.db'}"
        return self

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_endpoint)

    def public(self) -> dict[str, object]:
        """Settings as JSON-able values, secrets masked and URIs without credentials: safe to print and log."""
        from ml.core import redact

        return {k: redact.uri(v) if isinstance(v, str) else v for k, v in self.model_dump(mode="json").items()}


def one_line(exc: ValidationError, source: str, prefix: str = "ML_") -> str:
    """A validation error as one line: which setting, the bad value, why, and where to fix it."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    where = f"{prefix}{name.upper()}" if source == "env" else name
    return f"invalid setting {where}={first.get('input')!r}: {first['msg']}; fix the {source} value"


def load_settings() -> Settings:
    """Settings read from the environment now; an invalid value is one `BadInputError` line."""
    try:
        return Settings()
    except ValidationError as exc:
        raise BadInputError(one_line(exc, "env")) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return load_settings()


def with_overrides(base: Settings, updates: dict[str, object]) -> Settings:
    """`base` with explicit values (CLI options, DAG params) on top, validated like the environment."""
    try:
        return Settings.model_validate({**base.model_dump(), **updates})
    except ValidationError as exc:
        raise BadInputError(one_line(exc, "argument")) from exc


def settings_for(orchestrator: str | None = None, **overrides: object) -> Settings:
    """The settings of one step: the environment's, the catalog entry of its model (`model_name`,
    default ML_MODEL_NAME) on top, then the step's explicit arguments (validated again); None = unset."""
    base = get_settings()
    explicit = {k: v for k, v in overrides.items() if v is not None}
    updates = {**model_overrides(base, explicit.pop("model_name", None)), **explicit}  # type: ignore[arg-type]
    if orchestrator:
        updates["orchestrator"] = orchestrator
    updates = {k: v for k, v in updates.items() if getattr(base, k) != v}
    if not updates:
        return base
    return with_overrides(base, updates)


def model_settings(model_name: str | None, base: Settings | None = None) -> Settings:
    """The settings of model `model_name` (None: the default) over `base`, by default the environment
    read now: what a DAG file or code location builds a model's pipelines from (a cached read could
    be another environment's, in tests)."""
    base = base or load_settings()
    updates = {k: v for k, v in model_overrides(base, model_name).items() if getattr(base, k) != v}
    return with_overrides(base, updates) if updates else base


def model_catalog(base: Settings | None = None) -> catalog.Catalog:
    """The catalog the settings name (ML_MODEL_CATALOG; without one: only ML_MODEL_NAME)."""
    base = base or get_settings()
    return catalog.load(base.model_catalog, base.model_name)


def model_overrides(base: Settings, model_name: str | None) -> dict[str, object]:
    """What model `model_name` (None: the default) changes in `base`: its entry's fields, and for a
    model other than the default, the settings no two models share scoped by its name."""
    found = model_catalog(base)
    entry = found.entry(model_name)
    values: dict[str, object] = {"model_name": entry.name}
    if not found.is_default(entry.name):
        values.update(catalog.scoped_defaults(entry.name, base.model_dump()))
    values.update(entry.values)
    return values


def check_catalog(base: Settings | None = None) -> catalog.Catalog:
    """The catalog with every model's settings validated; all mistakes at once, one line each."""
    base = base or load_settings()
    found = model_catalog(base)
    lines: list[str] = []
    for name, entry in found.entries.items():
        try:
            Settings.model_validate({**base.model_dump(), **model_overrides(base, name)})
        except ValidationError as exc:
            for error in exc.errors():
                key = str(error["loc"][0]) if error["loc"] else "?"
                origin = f"field {key!r}" if key in entry.values else f"ML_{key.upper()} (not set in the entry)"
                lines.append(f"{found.source}: model {name!r}: {origin}={error.get('input')!r}: {error['msg']}")
    lines += _shared_prefixes(found, base)
    if lines:
        raise catalog.CatalogError(lines)
    return found


def _shared_prefixes(found: catalog.Catalog, base: Settings) -> list[str]:
    """Two models watching the same new-data prefix would both train on every file there."""
    owners: dict[str, str] = {}
    lines = []
    for name in found.names():
        prefix = str(model_overrides(base, name).get("new_data_prefix", base.new_data_prefix))
        prefix = prefix.rstrip("/") + "/"
        if prefix in owners:
            lines.append(f"{found.source}: models {owners[prefix]!r} and {name!r} watch the same new_data_prefix "
                         f"{prefix}; give each its own folder")
        owners.setdefault(prefix, name)
    return lines


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()

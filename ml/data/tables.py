"""Tabular text data: reading any supported format, validating it, splitting it, fingerprinting it.

Supported inputs: CSV, TSV, Parquet and JSON Lines from a local path, `s3://` or `http(s)://`,
and Hugging Face datasets as `hf://<name>[/<config>]?split=<split>` (needs the `datasets` extra
and network access). Validation errors are `BadInputError`s with one line that says what is
wrong, where, and how to fix it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml.core.errors import BadInputError
from ml.data import sources

if TYPE_CHECKING:
    import pyarrow as pa

    from ml.core.config import Settings

log = logging.getLogger(__name__)

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(uri: str) -> str:
    """The format named by the file extension (compression suffixes are not supported); a folder fails by name."""
    sources.refuse_folder(uri, set(FORMATS))
    suffix = Path(uri.split("?", 1)[0]).suffix.lower()
    if suffix not in FORMATS:
        raise BadInputError(
            f"unknown data format {suffix or '(no extension)'!r} for {uri}; use one of "
            f"{', '.join(sorted(set(FORMATS)))}"
        )
    return FORMATS[suffix]


def fingerprint(path: Path) -> str:
    """sha256 of the file's bytes: the identity of the data a model was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_batches(path: Path, fmt: str, uri: str, chunk_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """Stream a local file as Arrow record batches of about `chunk_rows` rows (memory stays flat)."""
    import pyarrow as pa

    if path.stat().st_size == 0:
        raise BadInputError(f"{uri} is empty; provide a file with a header and at least one row")
    sources.refuse_binary(path, uri, fmt)
    try:
        if fmt in ("csv", "tsv"):
            yield from _iter_csv(path, fmt, uri)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
        elif fmt == "jsonl":
            yield from _iter_jsonl(path, chunk_rows, uri)
        else:  # pragma: no cover - detect_format guards this
            raise BadInputError(f"unsupported format {fmt!r} for {uri}")
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, BadInputError):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = "save it as UTF-8" if "utf" in reason.lower() else f"check that it is valid {fmt.upper()}"
        raise BadInputError(f"cannot read {uri} as {fmt.upper()}: {reason}; {hint}") from exc


def _iter_csv(path: Path, fmt: str, uri: str) -> Iterator[pa.RecordBatch]:
    """CSV with quoting (quoted newlines allowed); TSV without it: one physical line is one row."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    one_row_per_line = fmt == "tsv" and not _quoted_header(path)  # chat/SMS exports: a stray '"' joins nothing
    if one_row_per_line:
        parse = pacsv.ParseOptions(delimiter="\t", quote_char=False, newlines_in_values=False)
    else:  # CSV, or TSV from a CSV writer that quotes every field (its header is quoted too)
        parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 << 20),
        parse_options=parse,
        # Texts and labels stay strings: type inference per block could otherwise disagree.
        convert_options=pacsv.ConvertOptions(check_utf8=True, strings_can_be_null=True, auto_dict_encode=False),
    )
    parsed = 0
    for batch in reader:
        # Arrow types a column with invalid UTF-8 as binary instead of failing: refuse it here.
        for name, column_type in zip(batch.schema.names, batch.schema.types, strict=True):
            if pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type):
                raise UnicodeError(f"column {name!r} is not valid UTF-8 text")
        parsed += batch.num_rows
        yield batch
    if not one_row_per_line:  # only quoting can join lines: no second pass over the file otherwise
        _report_line_mismatch(path, parsed, fmt, uri)


def _quoted_header(path: Path) -> bool:
    """Whether every header field is in double quotes: the mark of a fully quoted (CSV-writer) TSV."""
    with open(path, "rb") as handle:
        header = next((line.rstrip(b"\r\n") for line in handle if line.strip(b"\r\n")), b"")
    fields = header.split(b"\t")
    return all(len(f) >= 2 and f.startswith(b'"') and f.endswith(b'"') for f in fields)


def physical_data_lines(path: Path) -> int:
    """Non-empty lines after the header: what a reader expects to become rows."""
    with open(path, "rb") as handle:
        lines = sum(1 for line in handle if line.strip(b"\r\n"))
    return max(lines - 1, 0)


def _report_line_mismatch(path: Path, parsed: int, fmt: str, uri: str) -> None:
    """Say when rows and lines differ: quoted newlines or stray quotes merge lines into one row."""
    lines = physical_data_lines(path)
    if lines != parsed:
        log.warning(
            "%s: %d data lines were read as %d %s rows; check quoted fields (a stray '\"' joins lines)",
            uri, lines, parsed, fmt.upper(),
        )


def _iter_jsonl(path: Path, chunk_rows: int, uri: str) -> Iterator[pa.RecordBatch]:
    import pandas as pd
    import pyarrow as pa

    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            for frame in pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False):
                yield pa.RecordBatch.from_pandas(frame, preserve_index=False)
        except (ValueError, TypeError) as exc:  # pandas gives a byte offset (or none); users need the line
            bad = None if isinstance(exc, UnicodeDecodeError) else first_bad_json_line(path)
            if bad is None:
                raise
            number, reason = bad
            raise BadInputError(
                f"cannot read {uri} as JSONL: line {number} {reason}; fix or remove that line"
            ) from exc


def first_bad_json_line(path: Path) -> tuple[int, str] | None:
    """The 1-based number of the first non-blank line that is not a JSON object, and what is wrong."""
    import json

    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                return number, f"is not valid JSON: {exc.msg} at column {exc.pos + 1}"
            except ValueError as exc:  # UnicodeDecodeError
                return number, f"is not UTF-8 text: {str(exc).splitlines()[0]}"
            if not isinstance(value, dict):
                return number, f"is not a JSON object like {{\"text\": ...}} (got a {type(value).__name__})"
    return None


def read_table(path: Path, fmt: str, uri: str) -> pa.Table:
    """Read a whole (training-sized) file into one Arrow table."""
    import pyarrow as pa

    batches = list(iter_batches(path, fmt, uri))
    if not batches or sum(b.num_rows for b in batches) == 0:
        raise BadInputError(f"{uri} has no data rows; provide at least one row under the header")
    schemas = {b.schema for b in batches}
    if len(schemas) > 1:  # CSV blocks can infer different types; unify as strings
        batches = [_as_strings(b) for b in batches]
    return pa.Table.from_batches(batches)


def _as_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([c.cast(pa.string()) for c in batch.columns], names=batch.schema.names)


def require_columns(names: list[str], required: list[str], uri: str, setting_hint: str) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise BadInputError(
            f"{uri} has no column {', '.join(repr(m) for m in missing)} (columns: {', '.join(names)}); "
            f"rename the column or set {setting_hint}"
        )


@dataclass(frozen=True)
class CleanResult:
    """Rows kept and how many were dropped for which reason."""

    table: pa.Table
    dropped_empty_text: int
    dropped_missing_label: int


def clean_text_rows(
    table: pa.Table, text_col: str, uri: str, label_col: str | None = None, allow_empty: bool = False
) -> CleanResult:
    """Drop rows with a null/blank text (and null label); fail when nothing is left (unless `allow_empty`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    texts = pc.cast(table[text_col], pa.string())
    text_ok = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0), False)
    keep = text_ok
    dropped_label = 0
    if label_col is not None:
        label_ok = pc.invert(pc.is_null(table[label_col]))
        if pa.types.is_string(table[label_col].type) or pa.types.is_large_string(table[label_col].type):
            label_ok = pc.and_(label_ok, pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table[label_col])), 0), False))
        dropped_label = int(pc.sum(pc.and_(text_ok, pc.invert(label_ok))).as_py() or 0)
        keep = pc.and_(text_ok, label_ok)
    dropped_text = table.num_rows - int(pc.sum(text_ok).as_py() or 0)
    kept = table.filter(keep)
    if dropped_text or dropped_label:
        log.warning(
            "%s: dropped %d rows with a null or empty text and %d with a missing label", uri, dropped_text, dropped_label
        )
    if kept.num_rows == 0 and not allow_empty:
        raise BadInputError(
            f"{uri}: no usable rows left ({dropped_text} rows have a null or empty {text_col!r}, "
            f"{dropped_label} have no {label_col!r}); fill in the texts and labels"
        )
    return CleanResult(kept.set_column(kept.schema.get_field_index(text_col), text_col, pc.cast(kept[text_col], pa.string())), dropped_text, dropped_label)


def label_strings(column: pa.ChunkedArray) -> list[str]:
    """Labels as strings ('1', 'positive'): integers that pandas or Arrow typed as floats lose '.0'."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(column.type):
        values = column.to_pylist()
        if all(float(v).is_integer() for v in values):
            return [str(int(v)) for v in values]
        return [str(v) for v in values]
    return [s.strip() for s in pc.cast(column, pa.string()).to_pylist()]


def sorted_labels(labels: list[str]) -> list[str]:
    """Distinct labels in a stable order: numerically when every label is an integer."""
    distinct = set(labels)
    if all(lbl.lstrip("-").isdigit() for lbl in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def stratified_split(labels: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Row indices per split, stratified by label and deterministic for a seed.

    Every class keeps at least one training row; classes with three or more rows also get
    validation and test rows, so metrics cover every class the data has enough of.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    splits: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for label in sorted(by_label):
        rows = np.array(by_label[label])
        rng.shuffle(rows)
        n_test, n_val = _held_out(len(rows), val_fraction, test_fraction)
        splits["test"].extend(rows[:n_test].tolist())
        splits["validation"].extend(rows[n_test : n_test + n_val].tolist())
        splits["train"].extend(rows[n_test + n_val :].tolist())
    return {name: sorted(idx) for name, idx in splits.items()}


def _held_out(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Test and validation rows of a class of `n`: one each from 3 rows on, never its last training row."""
    if n < 3:
        return 0, 0
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    while n_test + n_val > n - 1:  # fractions near 0.5 on a small class would take every row
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n_test, n_val


def take_rows(table: pa.Table, indices: list[int]) -> pa.Table:
    """`table.take` that also accepts no indices (a plain `[]` is typed null and Arrow refuses it)."""
    import pyarrow as pa

    return table.take(pa.array(indices, pa.int64()))


def ensure_ids(table: pa.Table, id_col: str, start: int = 0) -> pa.Table:
    """Keep the user's row ids as strings, or number the rows (from `start`) when the data has none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if id_col in table.column_names:
        ids = pc.cast(table[id_col], pa.string())
        return table.set_column(table.schema.get_field_index(id_col), id_col, ids)
    return table.append_column(id_col, pa.array([str(i) for i in range(start, start + table.num_rows)], pa.string()))


# --- step-level readers ---------------------------------------------------------------------------


def _read_hf(uri: str) -> tuple[pa.Table, str]:
    """`hf://name[/config]?split=train`: a Hugging Face dataset (needs `datasets` and Hub access)."""
    from urllib.parse import parse_qs, urlparse

    try:
        import datasets
    except ImportError as exc:
        raise BadInputError(f"{uri} needs the 'datasets' package; pip install 'ml-pipelines[hf]'") from exc
    parsed = urlparse(uri)
    name = parsed.netloc + parsed.path.rstrip("/")
    parts = name.split("/")
    config = None
    if len(parts) == 3:  # owner/name/config
        name, config = "/".join(parts[:2]), parts[2]
    split = parse_qs(parsed.query).get("split", ["train"])[0]
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except FileNotFoundError as exc:
        raise BadInputError(f"Hugging Face dataset {name!r} (split {split!r}) not found; check {uri}") from exc
    except ConnectionError as exc:
        from ml.core.errors import TransientError

        raise TransientError(f"cannot reach the Hugging Face Hub for {uri}: {exc}") from exc
    return dataset.data.table, hashlib.sha256(f"{uri}#{dataset._fingerprint}".encode()).hexdigest()


def read_labelled(uri: str, settings: Settings) -> tuple[pa.Table, str]:
    """A labelled dataset from any supported source, its columns checked, and its sha256 (messages: `ml.redact`)."""
    from ml.core import redact, storage

    shown = redact.uri(uri)
    if uri.startswith("hf://"):
        table, digest = _read_hf(uri)
    else:
        fmt = detect_format(shown)
        with storage.local_copy(uri) as path:
            digest = fingerprint(path)
            table = read_table(path, fmt, shown)
    require_columns(table.column_names, [settings.text_column, settings.label_column], shown,
                    "ML_TEXT_COLUMN / ML_LABEL_COLUMN")
    return table, digest

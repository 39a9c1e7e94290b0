"""Texts to label, staged: any supported file streamed into the run's Parquet of (id, text).

Why apart from `tables`: inference input can be larger than memory, so it is read chunk by chunk
and written as it goes; only the counts and the fingerprint come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.core.config import Settings
from ml.core.errors import BadInputError
from ml.data.tables import clean_text_rows, detect_format, ensure_ids, fingerprint, iter_batches, require_columns


@dataclass(frozen=True)
class StagedInput:
    rows: int
    dropped: int
    fingerprint: str


def stage(uri: str, dest: Path, settings: Settings) -> StagedInput:
    """Stream any supported file into a Parquet file of (id, text), chunk by chunk (messages: `ml.core.redact`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml.core import redact, storage

    shown = redact.uri(uri)
    fmt = detect_format(shown)
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    rows = dropped = 0
    with storage.local_copy(uri) as path:
        digest = fingerprint(path)
        with pq.ParquetWriter(dest, schema) as writer:
            for batch in iter_batches(path, fmt, shown, settings.chunk_rows):
                table = pa.Table.from_batches([batch])
                require_columns(table.column_names, [settings.text_column], shown, "ML_TEXT_COLUMN")
                table = ensure_ids(table, settings.id_column, start=rows + dropped)
                cleaned = clean_text_rows(table, settings.text_column, shown, allow_empty=True)
                dropped += cleaned.dropped_empty_text
                rows += cleaned.table.num_rows
                writer.write_table(pa.table({"id": cleaned.table[settings.id_column], "text": cleaned.table[settings.text_column]}, schema=schema))
    if rows + dropped == 0:
        raise BadInputError(f"{shown} has no data rows; provide at least one row under the header")
    if rows == 0:
        raise BadInputError(f"{shown}: all {dropped} rows have a null or empty {settings.text_column!r}; fill in the texts")
    return StagedInput(rows=rows, dropped=dropped, fingerprint=digest)

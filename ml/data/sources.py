"""Is this input a data file at all? Checks before a parser sees it.

Why: a folder, a spreadsheet, an archive or a binary renamed `.csv` reached the CSV parser,
whose error quoted raw bytes of the file (NUL, ESC: garbage on a terminal) or said "unknown data
format '(no extension)'" for a folder. These checks name what the input is and what to do.
"""

from __future__ import annotations

from pathlib import Path

from ml.core.errors import BadInputError

#: Leading bytes of files people mistake for data files, what they are, and what to do.
MAGIC: tuple[tuple[bytes, str, str], ...] = (
    (b"PAR1", "a Parquet file", "name it .parquet"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first (gunzip)"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel .xlsx workbook)", "unpack it, or export the sheet as CSV (UTF-8)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls/.doc)", "export the sheet as CSV (UTF-8)"),
    (b"\x7fELF", "an executable program", "pass your data file"),
    (b"%PDF", "a PDF document", "export the table as CSV (UTF-8)"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8"),
)
SNIFF_BYTES = 8192


def refuse_folder(uri: str, known_suffixes: set[str]) -> None:
    """A folder (local, or an s3:// prefix ending in `/`) is not a dataset: say so, and name files in it."""
    from ml.core import storage

    if storage.is_s3(uri) or storage.is_http(uri) or uri.startswith("hf://"):
        if uri.endswith("/"):
            raise BadInputError(f"{uri} is a folder, not a data file; pass the URI of one file in it")
        return
    path = storage.local_path(uri)
    if not path.is_dir():
        return
    found = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in known_suffixes)
    example = f" (it holds {', '.join(found[:3])}{', ...' if len(found) > 3 else ''})" if found else ""
    raise BadInputError(f"{uri} is a directory, not a data file; pass one file in it{example}")


def refuse_binary(path: Path, uri: str, fmt: str) -> None:
    """A text format (CSV, TSV, JSONL) whose first bytes say it is something else fails here, by name."""
    if fmt == "parquet":
        return
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    for magic, what, fix in MAGIC:
        if head.startswith(magic):
            raise BadInputError(f"{uri} is {what}, not {fmt.upper()} text; {fix}")
    if b"\x00" in head:
        raise BadInputError(f"{uri} is a binary file (NUL bytes in its first {len(head)} bytes), not {fmt.upper()} "
                            "text; export your data as UTF-8 CSV, TSV or JSONL, or as Parquet")

"""What of a URI or a line of text may be shown: credentials and query strings never are.

Why one module: a URI reaches people through many doors (log lines, error lines, MLflow params and
tags, the step's JSON result, the orchestrators' UIs). Each door calls `uri` (a URI it holds) or
`text` (a message that may contain URIs, e.g. a library's exception), so a `user:password@` or a
presigned query string (`?X-Amz-Signature=...`) is cut before anything is written.

`hf://name?split=train` keeps its query: it names the split and carries no credential.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_KEEPS_QUERY = ("hf",)
# scheme://user[:password]@  (the userinfo part of any URL in free text)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>]*@")
# a URL's ?query and #fragment in free text (hf:// keeps its query)
_QUERY = re.compile(r"(?i)\b((?!hf://)[a-z][a-z0-9+.\-]*://[^\s?#'\"<>]*)[?#][^\s'\"<>]*")


def uri(value: str) -> str:
    """`value` without userinfo, query and fragment (local paths and plain words unchanged)."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return text(value)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query if parts.scheme.lower() in _KEEPS_QUERY else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def text(message: str) -> str:
    """`message` with every URL in it cut like `uri` does."""
    return _QUERY.sub(r"\1", _USERINFO.sub(r"\1", message))


def has_credentials(value: str) -> bool:
    """True when `value` holds a URL with a `user:password@` or a query string (a presigned URL)."""
    return text(value) != value

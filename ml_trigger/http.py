"""HTTP to the orchestrators' APIs: one `requests` session, timeouts, retries, one-line errors.

Why retries: `make train` right after `make up` meets API servers that are still starting or
briefly answer 5xx; a few tries with exponential backoff (`ml.core.retry`, the project's one
retry policy) ride that out, and an API that stays down ends the command with exit 75 instead of
a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import requests

from ml.core import retry
from ml_trigger.errors import EXIT_UNREACHABLE, TriggerError

#: Tries after the first one, unless ML_TRIGGER_RETRIES says otherwise.
DEFAULT_RETRIES = 5


def configured_retries() -> int:
    """ML_TRIGGER_RETRIES (retries after the first try), default 5."""
    return int(os.environ.get("ML_TRIGGER_RETRIES", str(DEFAULT_RETRIES)))


def unreachable(name: str, base_url: str, exc: BaseException) -> TriggerError:
    """The error for an API that stayed unreachable (exit 75)."""
    return TriggerError(
        f"{name} API unreachable at {base_url} ({type(exc).__name__}); is the stack up? try: make up",
        EXIT_UNREACHABLE,
    )


class ServerError(Exception):
    """A 5xx answer, raised only so that the retry policy sees it."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the connection failed or timed out, or the server answered 5xx."""
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ServerError))


class Http:
    """A `requests` session against one API, with timeouts, retries and one-line errors."""

    def __init__(self, base_url: str, name: str, *, timeout: float = 30, retries: int | None = None,
                 backoff_s: float = retry.FIRST_WAIT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.retries = configured_retries() if retries is None else retries
        self.backoff_s = backoff_s
        self.session = requests.Session()

    def _send(self, method: str, url: str, ok: Sequence[int], **kwargs: Any) -> requests.Response:
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code >= 500 and response.status_code not in ok:
            raise ServerError(response)
        return response

    def request(self, method: str, path: str, *, ok: Sequence[int] = (200,), **kwargs: Any) -> requests.Response:
        """The response when its status is in `ok`, else a TriggerError that says why."""
        policy = retry.retrying(f"{self.name} API {method} {path}", is_transient, self.retries + 1,
                                first_wait_s=self.backoff_s)
        try:
            response = policy(self._send, method, f"{self.base_url}{path}", ok, **kwargs)
        except ServerError as exc:
            response = exc.response
        except requests.RequestException as exc:
            raise unreachable(self.name, self.base_url, exc) from None
        if response.status_code in ok:
            return response
        raise TriggerError(f"{self.name} API: {method} {path} answered {response.status_code}: {detail(response)}")


def detail(response: requests.Response) -> str:
    """The short error text of an API response."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        text = body.get("detail") or body.get("message") or body.get("error") or body
        return text[:300] if isinstance(text, str) else json.dumps(text)[:300]
    return json.dumps(body)[:300]

"""Hugging Face Hub ids as base models: in the cache, reachable, or one clear line, in bounded time.

Why a check of our own before `from_pretrained`: transformers reports an offline cache miss, a
missing repository and an unreachable Hub alike as a three-line `OSError`, after the Hub client
has retried a refused connection for about a minute. Asking for `config.json` first, once per
attempt and with a timeout, tells the three apart: offline or not found is bad input (exit 2, not
retried), a network fault is transient (exit 75) after at most `retry_attempts` tries. A Hub host
that does not resolve at all (a machine without DNS, a mistyped HF_ENDPOINT) counts as offline.
"""

from __future__ import annotations

import logging
import socket

from ml.core import retry
from ml.core.errors import BadInputError, TransientError

log = logging.getLogger(__name__)

#: Seconds one metadata request may take (connect and read).
REQUEST_TIMEOUT_S = 10.0
#: Upper bound of the whole check, whatever `retry_attempts` says.
DEADLINE_S = 60.0
HINT = "use 'tiny', a local or s3:// save_pretrained folder, or a Hub id that exists"
#: Name-resolution answers that say the host does not exist (not "try again"): no retry can help.
_UNKNOWN_HOST = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def unknown_host(exc: BaseException | None) -> bool:
    """The Hub's host name does not resolve at all (no DNS on this machine, or a wrong HF_ENDPOINT).

    Unlike a refused connection or EAI_AGAIN ("temporary failure in name resolution"), this answer
    does not change by retrying: the machine is offline as far as the Hub goes.
    """
    while exc is not None:
        if isinstance(exc, socket.gaierror) and exc.errno in _UNKNOWN_HOST:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_network_fault(exc: BaseException) -> bool:
    """A refused or timed-out connection, or a Hub answer worth retrying (429, 5xx).

    The Hub client's transport errors are matched by class name (`TransportError`,
    `TimeoutException`): its HTTP library has been swapped before and may be again.
    """
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled) or unknown_host(exc):
        return False
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is None or status == 429 or status >= 500
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "TimeoutException"}) or isinstance(exc, (ConnectionError, TimeoutError))


def is_cached(repo_id: str) -> bool:
    """Whether the checkpoint's config.json is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def _require_cached(repo_id: str) -> None:
    """Offline (`HF_HUB_OFFLINE=1`): the checkpoint must already be in the local cache."""
    from huggingface_hub import constants

    if not is_cached(repo_id):
        raise BadInputError(
            f"base model {repo_id!r} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1; "
            f"download it once with network access, or {HINT}"
        )


def _fetch_metadata(repo_id: str) -> None:
    """One HEAD request for the checkpoint's config.json, without the Hub client's own retries."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=REQUEST_TIMEOUT_S, retry_on_errors=False)


def ensure_available(repo_id: str, attempts: int) -> None:
    """Return when `from_pretrained(repo_id)` can find the checkpoint; else one line, bad input or transient."""
    from huggingface_hub import constants
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if constants.HF_HUB_OFFLINE:
        _require_cached(repo_id)
        return
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise BadInputError(f"base model {repo_id!r} is not a valid Hub id ({_first_line(exc)}); {HINT}") from exc
    policy = retry.retrying(f"Hugging Face Hub at {constants.ENDPOINT}", is_network_fault, attempts, DEADLINE_S)
    try:
        for attempt in policy:
            with attempt:
                _fetch_metadata(repo_id)
    except Exception as exc:
        if unknown_host(exc):
            if is_cached(repo_id):  # from_pretrained falls back to the cache when the Hub cannot be reached
                log.warning("Hugging Face Hub at %s unknown (%s); using %r from the local cache", constants.ENDPOINT,
                            _first_line(exc), repo_id)
                return
            raise BadInputError(
                f"base model {repo_id!r} is not in the Hugging Face cache and the Hub at {constants.ENDPOINT} cannot be "
                f"resolved ({_first_line(exc)}: offline?); connect this machine, set HF_ENDPOINT to a mirror, or {HINT}"
            ) from exc
        if is_network_fault(exc):
            tries = policy.statistics.get("attempt_number", 1)
            raise TransientError(
                f"Hugging Face Hub at {constants.ENDPOINT} unreachable for base model {repo_id!r} after {tries} "
                f"attempts ({_first_line(exc)}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 with the "
                "model in the cache"
            ) from exc
        if isinstance(exc, (HfHubHTTPError, EntryNotFoundError, HFValidationError)):
            raise BadInputError(f"base model {repo_id!r} not found on the Hugging Face Hub at {constants.ENDPOINT} "
                                f"({_first_line(exc)}); {HINT}") from exc
        raise


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__

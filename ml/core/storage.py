"""Reading and publishing files by URI: local paths, `s3://bucket/key` (any S3 server), `http(s)://`.

Why one module: every step names its inputs and outputs as URIs, so the same code runs against
MinIO in compose, SeaweedFS in tests and a plain folder in the embedded mode.

Publishing is atomic: an S3 PUT becomes visible only once complete, and a local file is written
beside its target and renamed into place, so a failed step never leaves a half-written result
where readers look.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from ml.core import retry
from ml.core.config import Settings, get_settings
from ml.core.errors import BadInputError, TransientError

if TYPE_CHECKING:
    from minio import Minio

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT_S3_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "XMinioServerNotInitialized"}


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BadInputError(f"not an s3:// URI: {uri!r}; expected s3://bucket/key")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def join(base: str, *parts: str) -> str:
    """Join URI path segments with exactly one `/` between them."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def basename(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


# --- S3 client ------------------------------------------------------------------------------


def _client(settings: Settings, uri: str = "s3://") -> Minio:
    import urllib3
    from minio import Minio

    if not settings.uses_s3:
        raise BadInputError(f"{uri} is on an object store but ML_S3_ENDPOINT is empty (embedded mode: local files); "
                            "give a local path instead, or set ML_S3_ENDPOINT and its keys")
    endpoint = settings.s3_endpoint
    secure = endpoint.startswith("https://")
    host = endpoint.split("://", 1)[-1]
    # Few low-level retries: our own retry loop below owns backoff and the final error.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=5, read=300),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
        ca_certs=os.environ.get("SSL_CERT_FILE") or None,
    )
    return Minio(
        host,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=secure,
        region=settings.s3_region,
        http_client=http,
    )


def _is_transient(exc: BaseException) -> bool:
    import urllib3
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        return exc.code in _TRANSIENT_S3_CODES
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def _call_s3(what: str, uri: str, fn: Callable[[], T]) -> T:
    """Run one S3 operation: retry transient faults with backoff, translate the final error."""
    from minio.error import S3Error

    settings = get_settings()
    attempts = settings.retry_attempts
    try:
        return retry.call(f"{what} {uri}", fn, _is_transient, attempts)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            raise BadInputError(f"{uri} does not exist ({exc.code}); check the URI or upload the file first") from exc
        if exc.code in ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"):
            raise BadInputError(
                f"object store refused {what} {uri} ({exc.code}); check ML_S3_ACCESS_KEY / ML_S3_SECRET_KEY"
            ) from exc
        if _is_transient(exc):
            raise TransientError(f"object store failed {what} {uri} after {attempts} attempts: {exc.code}") from exc
        raise
    except Exception as exc:
        if _is_transient(exc):
            raise TransientError(
                f"object store at {settings.s3_endpoint} unreachable ({what} {uri}) after {attempts} attempts; "
                "check that it runs and ML_S3_ENDPOINT"
            ) from exc
        raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- public operations ----------------------------------------------------------------------


def exists(uri: str) -> bool:
    if is_s3(uri):
        from minio.error import S3Error

        bucket, key = split_s3(uri)
        client = _client(get_settings(), uri)

        def stat() -> bool:
            try:
                client.stat_object(bucket, key)
                return True
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
                    return False
                raise

        return _call_s3("stat", uri, stat)
    if is_http(uri):
        raise BadInputError(f"cannot test http(s) URIs for existence: {uri}")
    return local_path(uri).exists()


def fetch(uri: str, dest: Path) -> Path:
    """Copy the object at `uri` to the local file `dest` (streamed: never whole in memory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _client(get_settings(), uri)
        _call_s3("download", uri, lambda: client.fget_object(bucket, key, str(dest)))
    elif is_http(uri):
        _fetch_http(uri, dest)
    else:
        src = local_path(uri)
        if not src.is_file():
            raise BadInputError(f"{src} does not exist or is not a file; check the path")
        shutil.copyfile(src, dest)
    return dest


def _fetch_http(uri: str, dest: Path) -> None:
    """Download under the data-URI policy (ml.core.safe_http: public addresses only, size cap); retry network faults."""
    from urllib3.exceptions import SSLError

    from ml.core import redact, safe_http

    settings = get_settings()
    attempts = settings.retry_attempts
    try:
        retry.call(f"download {redact.uri(uri)}", lambda: safe_http.download(uri, dest, settings),
                   safe_http.is_transient, attempts)
    except SSLError as exc:
        raise BadInputError(f"{redact.uri(uri)}: TLS failed ({type(exc).__name__}); check the server's certificate") from exc
    except TransientError as exc:
        raise TransientError(f"{exc} (after {attempts} attempts)") from exc
    except Exception as exc:
        if safe_http.is_transient(exc):
            raise TransientError(f"{redact.uri(uri)} unreachable after {attempts} attempts: "
                                 f"{redact.text(str(exc))}") from exc
        raise


@contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A local file with the content of `uri`, removed afterwards when it was a download."""
    if not (is_s3(uri) or is_http(uri)):
        path = local_path(uri)
        if not path.is_file():
            raise BadInputError(f"{path} does not exist or is not a file; check the path")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ml-fetch-") as tmp:
        from ml.core import redact

        yield fetch(uri, Path(tmp) / (basename(redact.uri(uri)) or "object"))


_PUBLIC_FILE, _PUBLIC_DIR = 0o666, 0o777


def _umask() -> int:
    """The process umask, so published files get the modes normal files get.

    Read from /proc where it can be (setting it to read it races with other threads).
    """
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish(src: Path, uri: str) -> str:
    """Publish the local file `src` at `uri` atomically (complete or not at all)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _client(get_settings(), uri)
        _call_s3("upload", uri, lambda: client.fput_object(bucket, key, str(src)))
    elif is_http(uri):
        raise BadInputError(f"cannot write to an http(s) URI: {uri}; use s3:// or a local path")
    else:
        dest = local_path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.chmod(tmp, _PUBLIC_FILE & ~_umask())  # mkstemp makes 0600: readers are other users
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return uri


def write_json(uri: str, payload: dict[str, Any]) -> str:
    with tempfile.TemporaryDirectory(prefix="ml-json-") as tmp:
        path = Path(tmp) / "payload.json"
        path.write_text(json.dumps(payload, indent=2, sort_keys=True))
        return publish(path, uri)


def read_json(uri: str) -> dict[str, Any]:
    with local_copy(uri) as path:
        try:
            return json.loads(path.read_text())
        except ValueError as exc:
            raise BadInputError(f"{uri} is not valid JSON: {exc}") from exc


def publish_dir(src: Path, uri: str) -> str:
    """Publish a folder: every file, then `_SUCCESS` last, which readers require (see fetch_dir)."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    if is_s3(uri) or is_http(uri):
        for path in files:
            publish(path, join(uri, path.relative_to(src).as_posix()))
        with tempfile.TemporaryDirectory() as tmp:
            marker = Path(tmp) / "_SUCCESS"
            marker.write_text("")
            publish(marker, join(uri, "_SUCCESS"))
        return uri
    dest = local_path(uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(src, staging, dirs_exist_ok=True)
        (staging / "_SUCCESS").write_text("")
        os.chmod(staging, _PUBLIC_DIR & ~_umask())  # mkdtemp makes 0700
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return uri


def list_folder(uri: str) -> list[str]:
    """Paths (relative to `uri`) of every object under the `s3://` folder `uri`."""
    bucket, prefix = split_s3(uri)
    prefix = prefix.rstrip("/") + "/"
    client = _client(get_settings(), uri)
    names = _call_s3("list", uri, lambda: [o.object_name for o in client.list_objects(bucket, prefix, recursive=True)])
    return [name[len(prefix) :] for name in names]


def list_etags(uri: str) -> dict[str, str]:
    """Key -> ETag of every object under the `s3://` folder `uri` (keys relative to the bucket)."""
    bucket, prefix = split_s3(uri)
    client = _client(get_settings(), uri)

    def listing() -> dict[str, str]:
        objects = client.list_objects(bucket, prefix.rstrip("/") + "/", recursive=True)
        return {o.object_name: (o.etag or "").strip('"') for o in objects if not o.is_dir}

    return _call_s3("list", uri, listing)


def fetch_dir(uri: str, dest: Path) -> Path:
    """Copy a folder published by `publish_dir`; refuse one without its `_SUCCESS` marker."""
    if is_s3(uri):
        names = list_folder(uri)
        if "_SUCCESS" not in names:
            raise BadInputError(f"{uri} is not a complete published folder (no _SUCCESS); re-run the step that writes it")
        for rel in names:
            if rel != "_SUCCESS":
                fetch(join(uri, rel), dest / rel)
        return dest
    src = local_path(uri)
    if not (src / "_SUCCESS").exists():
        raise BadInputError(f"{uri} is not a complete published folder (no _SUCCESS); re-run the step that writes it")
    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("_SUCCESS"))
    return dest


def ensure_buckets(names: list[str]) -> list[str]:
    """Create the buckets that do not exist yet; return the ones created."""
    settings = get_settings()
    client = _client(settings)
    created = []
    for name in names:
        if not _call_s3("check bucket", f"s3://{name}", lambda n=name: client.bucket_exists(n)):
            _call_s3("create bucket", f"s3://{name}", lambda n=name: client.make_bucket(n))
            created.append(name)
    return created


def bucket_names(settings: Settings) -> list[str]:
    """Buckets the configured URIs live in (for `init-storage`)."""
    uris = [settings.work_uri, settings.results_uri, f"s3://{settings.data_bucket}"]
    return sorted({split_s3(u)[0] for u in uris if is_s3(u)})


def etag(uri: str) -> str | None:
    """The ETag of the `s3://` object `uri` (the store's checksum of its content), None when there is none."""
    from minio.error import S3Error

    bucket, key = split_s3(uri)
    client = _client(get_settings(), uri)

    def stat() -> str | None:
        try:
            return (client.stat_object(bucket, key).etag or "").strip('"') or None
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
                return None
            raise

    return _call_s3("stat", uri, stat)


def remove(uri: str) -> None:
    """Delete the object or local file at `uri` (nothing when it is gone already)."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        client = _client(get_settings(), uri)
        _call_s3("delete", uri, lambda: client.remove_object(bucket, key))
    else:
        local_path(uri).unlink(missing_ok=True)

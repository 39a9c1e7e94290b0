"""Download an `http(s)://` data URI without letting it reach inside the network it runs in.

A run parameter is text anyone who can start a run may choose, and the step runs next to the
object store, MLflow, the databases and a cloud's metadata service. So a URI is fetched only when
every address its host resolves to is public (not loopback, private, link-local, shared,
multicast, reserved or unspecified) or inside `ML_HTTP_ALLOWED_NETWORKS` (internal data servers
you trust). The check holds against DNS rebinding because the connection goes to the very address
that was checked (TLS still verifies the host name), and it is repeated on every redirect.
Downloads larger than `ML_HTTP_MAX_BYTES` are refused. Nothing here shows a URI's credentials or
query string (`ml.redact`).

Why not a library: the one that does this for `requests` (advocate) is unmaintained since 2020
and patches urllib3 1.x internals; urllib3 2 takes a pinned address and a TLS host name directly.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from ml.core import redact
from ml.core.config import Settings
from ml.core.errors import BadInputError, TransientError

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Policy:
    """Which addresses a data URI may reach: public ones, plus the allowed networks and host names."""

    networks: tuple[_Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    max_bytes: int = 4 * 1024**3

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        networks, hosts = [], set()
        for entry in (e.strip() for e in settings.http_allowed_networks.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts), settings.http_max_bytes)

    def allows(self, host: str, address: _Address) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        if any(address in net for net in self.networks):
            return True
        return is_public(address)


def is_public(address: _Address) -> bool:
    """A globally routable unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[_Address]:
    """Every address `host` resolves to now (an address literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))


def checked_address(policy: Policy, host: str, port: int, shown: str) -> _Address:
    """The address to connect to: all of `host`'s addresses must be allowed, or none is used."""
    try:
        addresses = resolve(host, port)
    except socket.gaierror as exc:
        raise BadInputError(f"{shown}: host {host!r} does not resolve ({exc.strerror}); check the URL") from exc
    refused = [a for a in addresses if not policy.allows(host, a)]
    if refused or not addresses:
        raise BadInputError(
            f"{shown}: refused, {host} resolves to {', '.join(map(str, refused or addresses))}, an internal address "
            "(loopback, private, link-local, metadata or multicast); data URIs may only reach public servers, "
            "or add that network to ML_HTTP_ALLOWED_NETWORKS for an internal data server you trust")
    return addresses[0]


def _pool(scheme: str, address: _Address, port: int, host: str) -> object:
    import urllib3

    timeout = urllib3.Timeout(connect=10, read=300)
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(
            str(address), port, timeout=timeout, retries=False, maxsize=1, cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or _default_cas(), server_hostname=host, assert_hostname=host)
    return urllib3.HTTPConnectionPool(str(address), port, timeout=timeout, retries=False, maxsize=1)


def _default_cas() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return certifi.where()


def _headers(parts: object, host_header: str, first_host: str) -> dict[str, str]:
    import urllib3

    headers = {"Host": host_header, "User-Agent": "ml-pipelines", "Accept-Encoding": "identity"}
    if parts.username and parts.hostname == first_host:  # credentials never follow a redirect elsewhere
        auth = urllib3.util.make_headers(basic_auth=f"{unquote(parts.username)}:{unquote(parts.password or '')}")
        headers["Authorization"] = auth["authorization"]
    return headers


def download(uri: str, dest: Path, settings: Settings) -> None:
    """Stream `uri` into `dest` under the policy; bad input (refused, 4xx, too big) or transient (5xx, network)."""
    policy = Policy.from_settings(settings)
    shown = redact.uri(uri)
    first_host = urlsplit(uri).hostname
    url = uri
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInputError(f"{shown}: redirected to {redact.uri(url)!r}, not an http(s) URL; use the final URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = checked_address(policy, parts.hostname, port, shown)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname and parts.port is None:
            host_header = f"[{parts.hostname}]"
        response = _pool(parts.scheme, address, port, parts.hostname).urlopen(
            "GET", target, headers=_headers(parts, host_header, first_host), redirect=False,
            preload_content=False, assert_same_host=False)
        try:
            if response.status in _REDIRECTS and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                log.info("%s redirects to %s", shown, redact.uri(url))
                continue
            _save(response, dest, shown, policy.max_bytes)
            return
        finally:
            response.release_conn()
    raise BadInputError(f"{shown}: more than {MAX_REDIRECTS} redirects; use the final URL")


def _save(response: object, dest: Path, shown: str, max_bytes: int) -> None:
    status = response.status
    if status in (404, 410):
        raise BadInputError(f"{shown} returned HTTP {status}; check the URL")
    if status in (408, 429) or status >= 500:
        raise TransientError(f"{shown} returned HTTP {status}; the server is overloaded or down, retry later")
    if status >= 400:
        raise BadInputError(f"{shown} returned HTTP {status}; check the URL and whether it needs credentials")
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise BadInputError(f"{shown} is {int(length)} bytes, over ML_HTTP_MAX_BYTES={max_bytes}; "
                            "raise the limit or copy the file to the object store")
    written = 0
    with open(dest, "wb") as out:
        for block in _blocks(response):
            written += len(block)
            if written > max_bytes:
                raise BadInputError(f"{shown} is over ML_HTTP_MAX_BYTES={max_bytes} bytes; "
                                    "raise the limit or copy the file to the object store")
            out.write(block)


def _blocks(response: object) -> Iterable[bytes]:
    return response.stream(1 << 20, decode_content=False)


def is_transient(exc: BaseException) -> bool:
    """A network fault worth another try (refused, reset, timed out, HTTP 5xx), never a refusal by the policy."""
    from urllib3 import exceptions as e

    if isinstance(exc, e.SSLError):  # a certificate that does not verify stays so
        return False
    return isinstance(exc, (TransientError, e.NewConnectionError, e.TimeoutError, e.ProtocolError, ConnectionError,
                            TimeoutError))

"""http(s) data URIs cannot reach inside: internal addresses refused (also after a redirect and a
DNS answer that changes), an allow-list for internal data servers, a size cap, and no credential
or query string in any line the step prints.

Real HTTP servers on loopback addresses stand in for "inside": 127.0.0.1 plays the internal
service that must never receive a request, 127.0.0.2 (allowed by `ML_HTTP_ALLOWED_NETWORKS`)
the data server.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ml.core import redact, safe_http
from ml.core.config import Settings
from ml.core.errors import EXIT_BAD_INPUT
from tests.ml.cli_helpers import error_line, run_cli

CSV = "text,label\n" + "".join(f"text number {i},{'ab'[i % 2]}\n" for i in range(40))


@dataclass
class Server:
    """A real HTTP server on `host` that records every request it receives."""

    host: str
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    chunked: bool = False
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    """(data server on 127.0.0.2, internal service on 127.0.0.1)."""
    made, running = [], []
    for host in ("127.0.0.2", "127.0.0.1"):
        spec = Server(host)

        class Handler(http.server.BaseHTTPRequestHandler):
            server_spec = spec

            def do_GET(self) -> None:
                spec = self.server_spec
                spec.requests.append((self.path, dict(self.headers)))
                status, headers, body = spec.routes.get(self.path.split("?", 1)[0], (404, {}, b"not here"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if spec.chunked:
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        spec.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        made.append(spec)
        running.append(httpd)
    try:
        yield made[0], made[1]
    finally:
        for httpd in running:
            httpd.shutdown()
            httpd.server_close()


@pytest.fixture
def allow_data_server(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_HTTP_ALLOWED_NETWORKS", "127.0.0.2/32")


def load(capsys: pytest.CaptureFixture[str], uri: str) -> tuple[int, str, str]:
    return run_cli(capsys, "load-training-data", "--run-id", "r1", "--dataset-uri", uri)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.251", "::1", "fe80::1", "fc00::1",
                                     "::ffff:127.0.0.1", "ff02::1"])
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not safe_http.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::1111"])
def test_public_addresses_are(address: str) -> None:
    assert safe_http.is_public(ipaddress.ip_address(address))


def test_loopback_and_a_name_resolving_to_it_are_refused_without_a_request(local_env: Path, capsys, servers) -> None:
    _, inside = servers
    inside.routes["/train.csv"] = (200, {}, CSV.encode())
    for uri in (inside.url("/train.csv"), f"http://localhost:{inside.port}/train.csv"):
        code, out, err = load(capsys, uri)
        assert code == EXIT_BAD_INPUT and out == ""
        assert "refused" in error_line(err) and "ML_HTTP_ALLOWED_NETWORKS" in error_line(err)
    assert inside.requests == []


def test_the_metadata_address_is_refused(local_env: Path, capsys) -> None:
    code, _, err = load(capsys, "http://169.254.169.254/latest/meta-data/iam/x.csv")
    assert code == EXIT_BAD_INPUT and "169.254.169.254" in error_line(err) and "refused" in error_line(err)


def test_an_allowed_data_server_is_read_and_its_credentials_are_never_shown(allow_data_server, capsys, servers) -> None:
    data, inside = servers
    data.routes["/train.csv"] = (200, {}, CSV.encode())
    uri = f"http://reader:s3cr3t-pw@127.0.0.2:{data.port}/train.csv?X-Amz-Signature=sig-value-123"
    code, out, err = load(capsys, uri)
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["dataset_uri"] == f"http://127.0.0.2:{data.port}/train.csv"
    (path, headers), = data.requests
    assert path == "/train.csv?X-Amz-Signature=sig-value-123"  # the real URI is fetched
    assert headers["Authorization"].startswith("Basic ") and headers["Host"] == f"127.0.0.2:{data.port}"
    assert "s3cr3t-pw" not in out + err and "sig-value-123" not in out + err
    assert inside.requests == []
    # the manifest is what train logs as the `dataset_uri` param and lineage tag
    manifest = (Path(result["data_uri"]) / "manifest.json").read_text()
    assert f"127.0.0.2:{data.port}/train.csv" in manifest and "s3cr3t" not in manifest and "sig-value" not in manifest


def test_a_redirect_into_the_network_is_refused(allow_data_server, capsys, servers) -> None:
    data, inside = servers
    inside.routes["/admin"] = (200, {}, b"secret,columns\n1,2\n")
    data.routes["/train.csv"] = (302, {"Location": inside.url("/admin")}, b"")
    code, _, err = load(capsys, data.url("/train.csv"))
    assert code == EXIT_BAD_INPUT and "refused" in error_line(err)
    assert "secret" not in err and inside.requests == []
    assert [p for p, _ in data.requests] == ["/train.csv"]


def test_a_dns_answer_that_changes_after_the_check_is_never_used(allow_data_server, capsys, servers, monkeypatch) -> None:
    """Rebinding: the name answers the allowed address first, then the internal one; only the first is connected to."""
    data, inside = servers
    data.routes["/train.csv"] = (200, {}, CSV.encode())
    inside.routes["/train.csv"] = (200, {}, b"internal,data\n1,2\n")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.2", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def rebinding(host, port, *args, **kwargs):  # a DNS server whose answer changes between two lookups
        if host == "data.rebind.test":
            return real(next(answers), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    code, _, err = load(capsys, f"http://data.rebind.test:{data.port}/train.csv")
    assert code == 0, err
    assert inside.requests == [] and len(data.requests) == 1
    assert data.requests[0][1]["Host"] == f"data.rebind.test:{data.port}"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_download_over_the_size_cap_is_refused(allow_data_server, capsys, servers, monkeypatch, chunked) -> None:
    data, _ = servers
    data.chunked = chunked
    data.routes["/big.csv"] = (200, {}, CSV.encode())
    monkeypatch.setenv("ML_HTTP_MAX_BYTES", "100")
    code, _, err = load(capsys, data.url("/big.csv"))
    assert code == EXIT_BAD_INPUT and "ML_HTTP_MAX_BYTES=100" in error_line(err)


def test_a_missing_file_names_the_uri_without_its_query(allow_data_server, capsys, servers) -> None:
    data, _ = servers
    code, _, err = load(capsys, f"http://u:topsecret@127.0.0.2:{data.port}/gone.csv?token=abcdef")
    assert code == EXIT_BAD_INPUT and "HTTP 404" in error_line(err)
    assert "topsecret" not in err and "abcdef" not in err


def test_a_host_name_on_the_allow_list_may_resolve_inside() -> None:
    policy = safe_http.Policy.from_settings(Settings(http_allowed_networks="data.corp.example, 10.0.0.0/8"))
    assert policy.allows("DATA.corp.example", ipaddress.ip_address("192.168.1.5"))
    assert policy.allows("other", ipaddress.ip_address("10.9.9.9"))
    assert not policy.allows("other", ipaddress.ip_address("192.168.1.5"))


@pytest.mark.parametrize(("raw", "shown"), [
    ("https://u:p@h.example/a.csv?X-Amz-Signature=abc#frag", "https://h.example/a.csv"),
    ("http://admin:pw@mlflow:5000", "http://mlflow:5000"),
    ("s3://bucket/key.csv?versionId=3", "s3://bucket/key.csv"),
    ("hf://glue/sst2?split=train", "hf://glue/sst2?split=train"),
    ("/data/a.csv", "/data/a.csv"),
])
def test_redacted_uris(raw: str, shown: str) -> None:
    assert redact.uri(raw) == shown
    assert redact.text(f"error: {raw} failed") == f"error: {shown} failed"
    assert redact.has_credentials(raw) == (raw != shown)


def test_settings_print_the_tracking_uri_without_its_password() -> None:
    shown = Settings(mlflow_tracking_uri="http://writer:pw-123456@mlflow:5000").public()
    assert shown["mlflow_tracking_uri"] == "http://mlflow:5000"


def test_https_to_an_allowed_address_verifies_the_host_name_not_the_address(allow_data_server, capsys, servers,
                                                                            monkeypatch, tmp_path) -> None:
    """The connection goes to the checked address, and TLS still checks the certificate against the URL's name."""
    import ssl
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=data.test",
                    "-addext", "subjectAltName=DNS:data.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    data, _ = servers
    data.routes["/train.csv"] = (200, {}, CSV.encode())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _https_handler(data))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    real = socket.getaddrinfo
    names = {"data.test": "127.0.0.2", "wrong.test": "127.0.0.2"}
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real(names.get(host, host), *a, **k))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    try:
        code, _, err = load(capsys, f"https://data.test:{port}/train.csv")
        assert code == 0, err
        code, _, err = load(capsys, f"https://wrong.test:{port}/train.csv")  # same address, a name the cert lacks
        assert code == EXIT_BAD_INPUT and "TLS" in error_line(err)
    finally:
        httpd.shutdown()
        httpd.server_close()


def _https_handler(spec: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            spec.requests.append((self.path, dict(self.headers)))
            status, _, body = spec.routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler

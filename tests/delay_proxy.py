"""A real HTTP proxy that forwards every request to a server and holds chosen answers back.

Why: a request whose answer times out may still have been carried out by the server. The proxy
forwards the request (so the server really creates the run or version), then keeps the answer
longer than the client waits; the client sees a read timeout and retries. That is the fault an
idempotent retry must survive, injected from outside the code under test.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import requests

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "host"}


@dataclass
class DelayProxy:
    """Forward to `upstream`; hold the answer of the first `times` requests `method path_suffix` for `hold_s`."""

    upstream: str
    method: str
    path_suffix: str
    hold_s: float
    times: int = 1
    seen: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0

    def __post_init__(self) -> None:
        outer = self
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                outer.seen.append((self.command, self.path))
                answer = requests.request(self.command, outer.upstream + self.path, data=body, headers=headers,
                                          timeout=120)
                if outer._should_hold(self.command, self.path):
                    time.sleep(outer.hold_s)  # the server has done it; the client stopped waiting
                    self.close_connection = True
                    return
                data = answer.content
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _should_hold(self, method: str, path: str) -> bool:
        with self._lock:
            if method == self.method and path.split("?", 1)[0].endswith(self.path_suffix) and self.held < self.times:
                self.held += 1
                return True
            return False

    def count(self, method: str, path_suffix: str) -> int:
        return sum(1 for m, p in self.seen if m == method and p.split("?", 1)[0].endswith(path_suffix))

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

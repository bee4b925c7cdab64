"""A real HTTP tile server on 127.0.0.1 serving a tile folder, with switchable misbehaviour.

Used by the tests and the benchmark (never binds anything but the loopback interface).  Switches (plain
attributes, changeable while running): ``delay_s`` (sleep before answering), ``status`` (answer this HTTP
status instead), ``redirect_to`` (answer 301 to this URL), ``garbage`` (200 with bytes that are not an image),
``content_type`` (override the Content-Type).  ``requests`` lists the paths asked, ``user_agents`` the
User-Agent headers seen, ``max_active`` the most requests answered at once.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops SYNs under 8 parallel connects (1 s retransmit)

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up are normal here
            super().handle_error(request, client_address)


class LoopbackTileServer:
    def __init__(self, root, port: int = 0):
        self.root = Path(root).resolve()
        self.delay_s = 0.0
        self.status: int | None = None
        self.redirect_to: str | None = None
        self.garbage = False
        self.content_type: str | None = None
        self.requests: list[str] = []
        self.user_agents: list[str] = []
        self.active = 0  # requests being answered now, and the most ever at once
        self.max_active = 0
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def template(self) -> str:
        return self.base_url + "/{z}/{x}/{y}.png"

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with server._lock:
                    server._conns.add(self.connection)

            def finish(self):
                with server._lock:
                    server._conns.discard(self.connection)
                super().finish()

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str, extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802 - http.server API
                with server._lock:
                    server.requests.append(self.path)
                    server.user_agents.append(self.headers.get("User-Agent", ""))
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.active -= 1

            def _answer(self):
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.redirect_to:
                    return self._send(301, b"", "text/plain", {"Location": server.redirect_to + self.path})
                if server.status:
                    return self._send(server.status, b"nope", "text/plain")
                if server.garbage:
                    return self._send(200, b"<html>this is not a tile</html>" * 4, server.content_type or "image/png")
                rel = unquote(urlsplit(self.path).path).lstrip("/")
                path = (server.root / rel).resolve()
                if server.root not in path.parents or not path.is_file():
                    return self._send(404, b"not found", "text/plain")
                ctype = server.content_type or _TYPES.get(path.suffix.lower(), "application/octet-stream")
                self._send(200, path.read_bytes(), ctype)

        return Handler

    def start(self) -> LoopbackTileServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="loopback-tiles", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (a server that went down)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

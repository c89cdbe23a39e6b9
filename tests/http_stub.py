"""A real loopback HTTP server for the provider and http tests (stdlib http.server in a thread).

Each test gives it an ``app(request) -> Reply``; every request is recorded. Not a mock: the
code under test opens real sockets, gets real status lines, headers, timeouts and short bodies.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    raw_path: str  # path + "?" + query exactly as received
    path: str
    query: str
    headers: dict  # as received (original case)

    @property
    def params(self) -> dict:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict = field(default_factory=dict)
    # "normal", "hang" (never answer), "truncate" (Content-Length larger than the body),
    # "chunked" (no Content-Length; body sent in chunks)
    mode: str = "normal"


class StubServer:
    def __init__(self, app):
        self.app = app
        self.requests: list[Request] = []
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                request = Request(self.command, self.path, parts.path, parts.query, dict(self.headers.items()))
                server.requests.append(request)
                reply = server.app(request)
                body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                if reply.mode == "hang":
                    server._release.wait(30)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.mode == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 4096):
                        chunk = body[start : start + 4096]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                if reply.mode == "truncate":
                    self.send_header("Content-Length", str(len(body) + 100))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def script(*replies: Reply):
    """An app that answers with the given replies in turn, repeating the last one."""
    queue = list(replies)

    def app(request):
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return app

"""A real HTTP server on 127.0.0.1 whose misbehaviour each test chooses."""
from __future__ import annotations

import http.server
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    ranges: bool = True          # honour Range requests
    drop_after: int | None = None  # close the connection after this many body bytes (first N requests)
    drop_times: int = 1
    delay: float = 0.0           # seconds before answering
    announce: int | None = None  # Content-Length to announce instead of the real one


@dataclass
class Server:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def start(server: Server) -> tuple[http.server.ThreadingHTTPServer, threading.Thread]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            route = server.routes.get(self.path)
            rng = self.headers.get("Range")
            server.hits[self.path].append(rng)
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.delay:
                time.sleep(route.delay)
            if route.status != 200:
                self.send_error(route.status)
                return
            body = route.body
            start_at = 0
            status = 200
            if rng and route.ranges and rng.startswith("bytes="):
                start_at = int(rng[6:].split("-")[0])
                if start_at >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            chunk = body[start_at:]
            self.send_response(status)
            length = route.announce if route.announce is not None else len(chunk)
            self.send_header("Content-Length", str(length))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start_at}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            drops_left = route.drop_times - (len(server.hits[self.path]) - 1)
            if route.drop_after is not None and drops_left > 0:
                self.wfile.write(chunk[: route.drop_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)
            if route.announce is not None:
                self.close_connection = True

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    server.port = httpd.server_address[1]
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    return httpd, t

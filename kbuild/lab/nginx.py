"""Debian's nginx in the boot lab, run by the server block kbuild generates for
``[site] http_base`` (``artifacts/server/nginx-http.conf``), never a hand-written one."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kbuild.errors import UserError
from kbuild.site import layout
from kbuild.site.model import Site

SNIPPET = "nginx-http.conf"


def nginx_conf(snippet: Path, workdir: Path) -> str:
    """The least nginx needs around a generated server block to run in the foreground with
    every path under ``workdir``: used by the lab and by the ``nginx -t`` check of the
    snippet."""
    temp = workdir / "nginx-temp"
    return "\n".join([
        "# the lab's wrapper around kbuild's generated server block",
        "user root;", "worker_processes 1;", "daemon off;", f"pid {workdir / 'nginx.pid'};",
        f"error_log {workdir / 'nginx-error.log'} info;",
        "events { worker_connections 64; }",
        "http {",
        f"    access_log {workdir / 'nginx-access.log'};",
        f"    client_body_temp_path {temp / 'body'};",
        f"    proxy_temp_path {temp / 'proxy'};",
        f"    fastcgi_temp_path {temp / 'fastcgi'};",
        f"    uwsgi_temp_path {temp / 'uwsgi'};",
        f"    scgi_temp_path {temp / 'scgi'};",
        f"    include {snippet};",
        "}", ""])


def lab_http(site: Site, workdir: Path) -> dict[str, Any]:
    """The spec entry that makes the lab supervisor start nginx (argv, port) with the site's
    generated server block; its access log is ``workdir/nginx-access.log`` (emptied here)."""
    assert site.http_base
    snippet = layout.server_dir(site) / SNIPPET
    if not snippet.is_file():
        raise UserError(f"no generated {SNIPPET}", path=snippet, hint="stage first: doit kernel:<profile>")
    (workdir / "nginx-temp").mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_conf(snippet, workdir))
    for name in ("nginx-access.log", "nginx-error.log"):
        (workdir / name).unlink(missing_ok=True)
    parts = urlsplit(site.http_base)
    return {"argv": ["nginx", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "nginx-error.log")],
            "port": parts.port or (443 if parts.scheme == "https" else 80)}

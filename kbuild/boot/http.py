"""The web server side of ``[site] http_base``: an nginx ``server`` block that serves the
published tree read-only at that base, for iPXE to fetch kernels and hypervisors over
HTTP (TFTP stays for the loaders and the small files)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kbuild.boot.entry import GENERATED

# Types for what a boot tree holds. A ``types`` block replaces nginx's inherited map in
# this server, so everything else (kernels are vmlinuz-<release>, no extension) is
# application/octet-stream, never guessed text.
_TYPES = (("application/efi", "efi"), ("application/gzip", "gz"),
          ("text/plain", "ipxe cfg lst conf sh"))


def nginx_server(http_base: str, tree: Path) -> str:
    """``server { ... }`` for nginx's ``http`` context (include it, e.g. from conf.d/).
    ``http_base`` is the site's validated, "/"-ended base; ``tree`` the published tree."""
    parts = urlsplit(http_base)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    location = parts.path or "/"
    root = str(tree).rstrip("/")
    # a sub-path maps onto the tree with alias; "/" is the tree itself
    where = f"root {root};" if location == "/" else f"alias {root}/;"
    lines = [f"# {GENERATED}",
             f"# nginx server block: serves the published boot tree read-only at {http_base}",
             "# (include it from nginx's http context, e.g. /etc/nginx/conf.d/)."]
    if https:
        lines.append("# https: set ssl_certificate and ssl_certificate_key in the http context.")
    lines += ["server {",
              f"    listen {port}{' ssl' if https else ''};",
              f"    server_name {parts.hostname};",
              "    autoindex off;",
              "    sendfile on;",
              "    tcp_nopush on;",
              "    types {"]
    lines += [f"        {mime} {exts};" for mime, exts in _TYPES]
    lines += ["    }",
              "    default_type application/octet-stream;",
              # kbuild's publish store (.kbuild/: manifests, objects) and any dot file stay private
              "    location ~ /\\. {",
              "        return 404;",
              "    }",
              f"    location {location} {{",
              f"        {where}",
              "        limit_except GET {",
              "            deny all;",
              "        }",
              "    }",
              "}"]
    return "\n".join(lines) + "\n"

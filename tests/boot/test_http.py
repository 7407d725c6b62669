"""``[site] http_base`` and the nginx server snippet: validation with the site file's line,
and the generated server block checked by the real ``nginx -t``."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kbuild.boot import http
from kbuild.lab.nginx import nginx_conf
from kbuild.site.load import SiteError, load_site
from tests.boot.test_hostfiles import _base_toml
from tests.e2e import copy_site


def _load(tmp_path: Path, value: str):
    text = _base_toml().replace("[site]\n", f"[site]\nhttp_base = {value}\n", 1)
    copy_site(tmp_path / "s", text, link=True)
    return load_site(tmp_path / "s/kbuild.toml")


@pytest.mark.parametrize("value,normalised", [
    ('"http://10.0.2.2:8080"', "http://10.0.2.2:8080/"),
    ('"http://boot.example.org/tftp//"', "http://boot.example.org/tftp/"),
    ('"https://boot.example.org/"', "https://boot.example.org/"),
])
def test_http_base_is_normalised(tmp_path, value, normalised):
    assert _load(tmp_path, value).http_base == normalised


@pytest.mark.parametrize("value,words", [
    ('"ftp://10.0.2.2/"', "scheme 'ftp'"),
    ('"10.0.2.2:8080"', "scheme"),
    ('"http://user:secret@10.0.2.2/"', "carries credentials"),
    ('"http:///images/"', "names no server"),
    ('"http://10.0.2.2/?x=1"', "query or fragment"),
    ('"http://10.0.2.2:99999/"', "not a URL"),
    ('"http://10.0.2.2/a b/"', "spaces"),
    ('"http://10.0.2.2/{x}/"', "contains '{'"),
    ("8080", "must be a string"),
])
def test_bad_http_base_names_the_line_and_the_fix(tmp_path, value, words):
    with pytest.raises(SiteError) as e:
        _load(tmp_path, value)
    err = e.value
    assert words in str(err) and "secret" not in str(err)
    line = (tmp_path / "s/kbuild.toml").read_text().splitlines().index(f"http_base = {value}") + 1
    assert err.line == line, str(err)
    if "string" not in words:
        assert "http://SERVER[:PORT]/" in (err.hint or "")


def _nginx_t(snippet: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "nginx-temp").mkdir(exist_ok=True)
    path = tmp_path / "nginx-http.conf"
    path.write_text(snippet)
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(path, tmp_path))
    return subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path),
                           "-e", str(tmp_path / "nginx-error.log")], capture_output=True, text=True)


@pytest.mark.parametrize("base,where", [("http://10.0.2.2:8080/", "root {tree};"),
                                        ("http://boot.example.org/tftp/", "alias {tree}/;")])
def test_nginx_snippet_passes_nginx_t(tmp_path, base, where):
    tree = tmp_path / "tftpboot"
    tree.mkdir()
    text = http.nginx_server(base, tree)
    assert where.format(tree=tree) in text
    for line in ("autoindex off;", "sendfile on;", "application/efi efi;",
                 "default_type application/octet-stream;", "limit_except GET {"):
        assert line in text
    assert ("listen 8080;" if ":8080" in base else "listen 80;") in text
    r = _nginx_t(text, tmp_path)
    assert r.returncode == 0 and "test is successful" in r.stderr, r.stderr
    # the check is real: a broken directive fails it
    assert _nginx_t(text.replace("autoindex off;", "autoindex of;"), tmp_path).returncode != 0


def test_site_with_http_base_writes_the_nginx_snippet(tmp_path):
    from kbuild.boot import server
    site = _load(tmp_path, '"http://10.0.2.2:8080/"')
    text = server.snippets(site).files["nginx-http.conf"]
    assert f"root {site.tftp_root};" in text and "server_name 10.0.2.2;" in text

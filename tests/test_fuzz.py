"""Property tests over every parser (issue 15): for any input, each parser (through
the functions the `kbuild` command calls, see tests/fuzz_targets.py) returns a result
or raises a kbuild UserError, never another exception, accepts no garbage (as
docs/verify.md defines it), and stays fast. Derandomized, no example database;
bench/fuzz_campaign.py is the long run."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzz_targets import TARGETS

FUZZ = settings(derandomize=True, database=None, max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
# An input may take this long on a loaded CI machine (the campaign measures < 100 ms).
BOUND_S = 2.0

HOSTILE = ["\u00b2", "\u0666.\u0661", "1" * 4301, " " * 20000, "\x00", "\x07", "\x0c", "\x1c",
           "\n", "\r", "=", "#", "\"", "[" * 1000, "..", "/", "CONFIG_", " is not set", "\udcff"]


def lines(*words: str) -> st.SearchStrategy[bytes]:
    """Structure-aware: lines of the format's own words with hostile tokens mixed in."""
    token = st.one_of(st.sampled_from(words), st.sampled_from(HOSTILE), st.text(max_size=20))
    return st.lists(st.lists(token, max_size=6).map("".join), max_size=12).map(
        lambda ls: "\n".join(ls).encode("utf-8", "surrogateescape"))


def anything(structured: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2000), structured)


def run(kind: str, data: bytes, workdir: Path) -> None:
    t0 = time.perf_counter()
    assert TARGETS[kind](data, workdir) in ("accepted", "refused")
    assert time.perf_counter() - t0 < BOUND_S


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(anything(lines("CONFIG_A=", "y", "m", "\"s\"", "0x1f", "-3", "# CONFIG_B is not set",
                      "# Linux/x86_64 ", "6.1.0", " Kernel Configuration", "# Linux kernel version: ")))
@example("# Linux/x86_64 \u0666.\u0661 Kernel Configuration\n".encode())
@example(("# Linux/x86_64 6." + "1" * 4301 + " Kernel Configuration\n").encode())
@example(b"CONFIG_A=\"x" + b" " * 60000 + b"x\"\n")
@example(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 40)
@example(b"# c\n" * 20000 + b"CONFIG_A=y\0\n")
def test_config_and_fragment_files(workdir: Path, data: bytes) -> None:
    run("config", data, workdir)


@FUZZ
@given(anything(lines("DEFAULT ", "LABEL ", "KERNEL ", "APPEND ", "IPAPPEND ", "set default=",
                      "menuentry 'x' {", "linux /k", "}", "title ", "#!ipxe", "kernel ", "boot",
                      "root=/dev/nfs", "ip=dhcp", "multiboot2 ", "module2 ", "---")))
@example("DEFAULT \u00b2\nLABEL a\n KERNEL k\n APPEND root=/dev/nfs\n".encode())
@example(("set default=" + "1" * 4301 + "\nmenuentry 'a' {\n linux /k root=/dev/nfs\n}\n").encode())
@example(b"Dear user,\x07 the value is key=value.\n")
@example(b"just prose\n")
def test_entry_files(workdir: Path, data: bytes) -> None:
    run("entry", data, workdir)


@FUZZ
@given(anything(lines("root=/dev/nfs ", "nfsroot=10.0.0.1:/srv,vers=4 ", "ip=dhcp ", "--",
                      "ip=10.0.0.2:10.0.0.1:10.0.0.1:255.255.255.0::eth0:off ", "\"a b\" ")))
@example(b"root=/dev/nfs nfsroot=\xff\xfe:/x")
@example(b"root=/dev/nfs\x07 ip=dhcp")
def test_command_lines(workdir: Path, data: bytes) -> None:
    run("cmdline", data, workdir)


SITE = (b"[sources.k]\nurl = \"file:///x.tar.xz\"\nsha256 = \"" + b"0" * 64 + b"\"\n"
        b"[profiles.p]\nsource = \"k\"\nnfsroot = { path = \"/srv\" }\n"
        b"[[hosts]]\nname = \"h\"\nmac = \"52:54:00:12:34:56\"\nprofile = \"p\"\n")


@FUZZ
@given(st.one_of(anything(lines("[sources.k]", "url = ", "sha256 = ", "[profiles.p]", "source = ",
                                "nfsroot = { path = \"/srv\" }", "[[hosts]]", "name = ", "mac = ",
                                "\"\"", "[site]", "artifacts = ", "tftp_root = ", "[nfs]",
                                "fragments = [", "]", "patches = ")),
                 st.tuples(st.integers(0, len(SITE)), st.sampled_from(HOSTILE)).map(
                     lambda t: SITE[:t[0]] + t[1].encode("utf-8", "surrogateescape") + SITE[t[0]:])))
@example(b"")
@example(SITE.replace(b"name = \"h\"", b"name = \"h\\n\""))
@example(SITE.replace(b"sha256 = \"" + b"0" * 64 + b"\"", b"sha256 = \"\""))
@example(b"[site]\nartifacts = \"/a\"\n" + SITE)
@example(b"x = " + b"[" * 1000 + b"]" * 1000)
@example(b"[site]\nkeep_generations = " + b"1" * 4301 + b"\n" + SITE)
def test_site_files(workdir: Path, data: bytes) -> None:
    run("site", data, workdir)


@FUZZ
@given(st.one_of(st.binary(max_size=500),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.sampled_from(["format", "generation", "files", "dirs",
                                                                 "pending", "write", "remove", "sha256",
                                                                 "size", "mode", "role", "meta", "stamps",
                                                                 "a"]),
                                                inner, max_size=6), max_leaves=20)
                 .map(lambda v: __import__("json").dumps(v).encode())))
@example(b"[" * 100000)
@example(b"{\"format\": 1, \"generation\": 1, \"files\": {}, \"dirs\": [], \"pending\": "
         b"{\"generation\": 2, \"write\": 5, \"remove\": [], \"dirs\": []}}")
@example(b"{\"format\": 1, \"generation\": 1, \"files\": {}, \"dirs\": [\"../victim\"]}")
@example(b"{\"files\": {\"../victim\": {\"sha256\": \"a\", \"size\": 1, \"mode\": \"0644\", "
         b"\"role\": \"entry\", \"meta\": {}}}, \"stamps\": []}")
def test_publish_manifest(workdir: Path, data: bytes) -> None:
    run("manifest", data, workdir)


@FUZZ
@given(anything(lines("a.patch", "b.patch", " >=5.10,<6.3", " # c", "../x", "~=6.1", " ==6.*")))
@example(b"\xff.patch\n")
@example(b"p" * 300 + b".patch\n")
@example(b"a\x00.patch\n")
def test_patch_series(workdir: Path, data: bytes) -> None:
    run("series", data, workdir)


@FUZZ
@given(anything(lines("6", ".", "1", "v", "-", "rc1", "\u0666", "\u00b2")))
@example(("6." + "1" * 4301).encode())
def test_kernel_versions(workdir: Path, data: bytes) -> None:
    run("version", data, workdir)

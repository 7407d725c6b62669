"""Per-host files rendered from a template per profile equal the files rendered in full."""
from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from kbuild.boot import hostfiles
from kbuild.boot.entry import make_entry
from kbuild.errors import UserError
from kbuild.site.load import load_site
from kbuild.site.model import Host
from tests.e2e import REPO

SITE = load_site(REPO / "kbuild.toml")
NAMES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def _files(host: Host, full: bool) -> object:
    """The host's files, or the error rendering them raised."""
    try:
        return _render(host, full)
    except UserError as exc:
        return str(exc)


def _render(host: Host, full: bool) -> list[hostfiles.HostFile]:
    p = SITE.profiles[host.profile]
    entry = make_entry(p, "6.1.192", host=host, hypervisor_file="xen-4.17-amd64.gz" if p.xen else None)
    if full:
        saved = hostfiles._rendered
        hostfiles._rendered = lambda render, e, *args: render(e, *args)   # type: ignore[assignment]
        try:
            return hostfiles.host_files(host, p, entry, None, "images/dom0/xen.plain", "tftp://10.0.2.2")
        finally:
            hostfiles._rendered = saved
    return hostfiles.host_files(host, p, entry, None, "images/dom0/xen.plain", "tftp://10.0.2.2")


@settings(max_examples=300, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=4),
       profile=st.sampled_from(["nfsroot", "nfsroot-6.12", "dom0"]),
       extra=st.sampled_from([(), ("quiet",), ("a=b c",), ("it's",)]))
def test_templated_files_equal_files_rendered_in_full(names: list[str], profile: str,
                                                     extra: tuple[str, ...]) -> None:
    for i, name in enumerate(names):
        host = Host(name=name, profile=profile, mac=f"52:54:00:00:00:{i:02x}", ip=f"10.0.9.{i + 1}",
                    extra=extra)
        assert _files(host, full=False) == _files(host, full=True)


def test_a_name_the_profile_also_uses_is_replaced_only_where_the_name_goes() -> None:
    first = Host(name="h1", profile="nfsroot", mac="52:54:00:00:00:01")
    _files(first, full=False)                   # the template is made here
    for name in ("nfsroot", "tcp", "vers", "Linux", "h1"):
        host = dataclasses.replace(first, name=name)
        assert _files(host, full=False) == _files(host, full=True)

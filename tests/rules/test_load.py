"""The rule files: the one loader, its validation, and the data against Linux 6.1."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from kbuild.errors import UserError
from kbuild.rules import load as rules
from kbuild.rules.load import RulesError, load_rules
from kbuild.util.versions import parse_kernel_version


def test_builtin_rules_load_and_cover_the_nfs_root_essentials():
    rs = load_rules()
    ids = [r.id for r in rs.rules]
    assert len(ids) == len(set(ids))
    symbols = {s for r in rs.rules for s in r.symbols}
    for needed in ("NET", "INET", "NETWORK_FILESYSTEMS", "NFS_FS", "ROOT_NFS", "IP_PNP",
                   "IP_PNP_DHCP", "IP_PNP_BOOTP", "IP_PNP_RARP", "NFS_V2", "NFS_V3", "NFS_V4",
                   "NFS_V4_1", "NFS_V4_2", "NFS_DISABLE_UDP_SUPPORT", "ETHERNET", "NET_ETHERNET",
                   "SERIAL_8250_CONSOLE", "HVC_XEN", "DEVTMPFS", "DEVTMPFS_MOUNT", "TMPFS",
                   "XEN", "XEN_PV", "XEN_DOM0", "64BIT", "UML_NET_VECTOR", "UML_NET_TUNTAP",
                   "E1000", "E1000E", "IGB", "R8169", "TIGON3", "BNX2", "VIRTIO_NET",
                   "XEN_NETDEV_FRONTEND", "VORTEX", "VIA_RHINE"):
        assert needed in symbols, needed
    for r in rs.rules:
        assert r.reason and r.source and r.path and r.line, r.id
        assert "\n" not in r.reason


def test_renamed_symbols_are_data():
    rs = load_rules()
    assert rs.renamed["NET_ETHERNET"].use == "ETHERNET"
    assert str(rs.renamed["NFSD_V3"].since) == "5.18"
    assert rs.renamed["NFSD_V3"].where.endswith("renames.toml:12")


def test_nic_names_aliases_and_generated_rules():
    rs = load_rules()
    assert rs.nic("virtio_net").name == "virtio-net"
    assert rs.nic("E1000-82545EM").name == "e1000"           # QEMU device name, any case
    assert rs.nic("3c905").symbols == ("VORTEX",)
    assert rs.by_id("nic:virtio-net:virtio_pci").symbols == ("VIRTIO_PCI",)
    with pytest.raises(UserError, match="unknown NIC 'wifi0'") as e:
        rs.nic("wifi0")
    assert "e1000" in str(e.value.hint)


def test_version_ranges_pick_the_renamed_symbol():
    rs = load_rules()
    old, new = rs.by_id("net-ethernet"), rs.by_id("ethernet")
    for version, want_old in (("3.1.10", True), ("3.2", False), ("6.1.192", False)):
        v = parse_kernel_version(version)
        assert old.applies_to(v) is want_old
        assert new.applies_to(v) is not want_old
    assert not rs.by_id("uml-net").applies_to(parse_kernel_version("6.16"))


def test_conditions_lists_and_negation():
    rs = load_rules()
    ethernet = rs.by_id("ethernet")
    facts = {"mount": frozenset({"kernel"}), "arch": frozenset({"x86_64"}),
             "nic_class": frozenset({"virtual", "ethernet"})}
    assert ethernet.condition_holds(facts)
    assert not ethernet.condition_holds({**facts, "arch": frozenset({"um"})})
    assert not ethernet.condition_holds({**facts, "nic_class": frozenset({"virtual"})})


def _write(tmp_path: Path, text: str, name: str = "extra.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_extra_file_replaces_a_rule_by_id_and_adds_nics(tmp_path):
    extra = _write(tmp_path, """
[[rule]]
id = "tmpfs"
symbol = "TMPFS"
severity = "error"
when = { mount = "kernel" }
reason = "our images mount /var on tmpfs"
source = "site policy"

[nic.my-nic]
symbols = ["MY_NIC"]
what = "an in-house NIC"
source = "vendor tree"
""")
    rs = load_rules([extra])
    assert rs.by_id("tmpfs").severity == "error"
    assert rs.by_id("tmpfs").path.endswith("extra.toml")
    assert rs.by_id("nic:my-nic").symbols == ("MY_NIC",)
    alone = load_rules([extra], builtin=False)
    assert [r.id for r in alone.rules] == ["tmpfs", "nic:my-nic"]


@pytest.mark.parametrize("body,line,needle", [
    ('[[rule]]\nid = "x"\nsymbol = "A"\nreason = "r"\nsource = "s"\nwhen = { moon = "full" }\n',
     6, "unknown fact 'moon'"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nreason = "r"\nsource = "s"\nkernel = ">=banana"\n',
     6, "is not a version specifier"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nforbid = true\nreason = "r"\nsource = "s"\n',
     1, "exactly one of symbol, any_of, forbid, measure"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nwant = "yes"\nreason = "r"\nsource = "s"\n',
     4, "use y, m, n"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nreason = "r"\nsource = "s"\nwhen = { arch = ["!um", "x86_64"] }\n',
     6, "mix of negated"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nreason = "r"\nsource = "s"\nwhen = { nic = "e1001" }\n',
     6, "unknown value(s) e1001"),
    ('[[rule]]\nid = "x"\nsymbl = "A"\nreason = "r"\nsource = "s"\n', 3, "did you mean 'symbol'"),
    ('[[rule]]\nid = "x"\nmeasure = "cmdline"\nreason = "r"\nsource = "s"\nfix = "f"\n',
     1, "needs max"),
    ('[[rule]]\nid = "x"\nsymbol = "A"\nsource = "s"\n', 1, "missing 'reason'"),
    ('[rule\nid = 1\n', 1, "invalid TOML"),
    ('schema = 2\n', 1, "this kbuild reads schema 1"),
    ('[renamed.OLD]\nsince = "three"\nwhat = "gone"\nsource = "s"\n', 2, "not a kernel version"),
])
def test_rule_file_errors_name_file_and_line(tmp_path, body, line, needle):
    bad = _write(tmp_path, body, "bad.toml")
    with pytest.raises(RulesError) as e:
        load_rules([bad])
    diag = e.value.diagnostics[0]
    assert diag.path.endswith("bad.toml")
    assert diag.line == line, str(e.value)
    assert needle in str(e.value)


def test_all_problems_of_a_file_are_reported_together(tmp_path):
    bad = _write(tmp_path, '[[rule]]\nid = "a"\nsymbol = "A"\nsource = "s"\n'
                           '[[rule]]\nid = "B!"\nsymbol = "B"\nreason = "r"\nsource = "s"\n', "bad.toml")
    with pytest.raises(RulesError) as e:
        load_rules([bad])
    assert [d.line for d in e.value.diagnostics] == [1, 6]


def test_missing_rules_file(tmp_path):
    with pytest.raises(UserError, match="no such rules file"):
        load_rules([tmp_path / "nope.toml"])


def _kconfig_symbols(tree: Path, arch_dirs: tuple[str, ...]) -> set[str]:
    found = set()
    pattern = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$", re.M)
    for kconfig in tree.rglob("Kconfig*"):
        rel = kconfig.relative_to(tree).parts
        if rel[0] == "arch" and len(rel) > 1 and rel[1] not in arch_dirs:
            continue
        try:
            found.update(pattern.findall(kconfig.read_text(errors="replace")))
        except OSError:
            continue
    return found


@pytest.mark.realtree
def test_every_symbol_the_rules_name_for_6_1_exists_in_linux_6_1(linux_src):
    """A typo in the data would make verify fail every config: check against the real tree."""
    rs = load_rules()
    known = _kconfig_symbols(linux_src, ("x86", "um"))
    v61 = parse_kernel_version("6.1.192")
    missing = sorted({(r.id, s) for r in rs.rules if r.applies_to(v61) for s in r.symbols
                      if s not in known})
    assert missing == []
    assert "NET_ETHERNET" not in known            # the <3.2 rule names a symbol 6.1 lacks


def test_builtin_rule_files_are_the_package_data_in_table_order():
    """The files load_rules reads are the kbuild.rules package data (what pyproject ships),
    the NFS root first and the entry's own checks last, the rest by name."""
    import importlib.resources
    import tomllib

    shipped = sorted(f.name for f in importlib.resources.files("kbuild.rules").iterdir()
                     if f.name.endswith(".toml"))
    assert shipped == ["consoles.toml", "efi.toml", "entry.toml", "nfsroot.toml", "nics.toml",
                       "renames.toml", "root.toml", "uml.toml", "xen.toml"]
    files = rules.builtin_files()
    assert [f.name for f in files] == ["nfsroot.toml", "xen.toml", "uml.toml", "efi.toml",
                                       "consoles.toml", "entry.toml", "nics.toml", "renames.toml",
                                       "root.toml"]
    assert all(f.parent == rules.RULES_DIR for f in files)
    package_data = tomllib.loads((Path(rules.__file__).parents[2] / "pyproject.toml").read_text())
    assert package_data["tool"]["setuptools"]["package-data"]["kbuild.rules"] == ["*.toml"]
    assert load_rules().files == tuple(str(f) for f in files)

"""A profile's checks: its built .config against the entry kbuild writes for it, its
NICs and its hosts' (the doit ``verify:`` task, publish, and ``kbuild verify --profile``)."""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from kbuild.boot.entry import BootSpec, entry_from_cmdline, host_nfsroot
from kbuild.errors import UserError
from kbuild.rules.load import load_rules
from kbuild.rules.model import RuleSet
from kbuild.site import layout
from kbuild.site.model import EFI_LOADERS, Host, Profile, Site
from kbuild.verify.check import explain_and_fix, plan_entry, read_config_under_test, report_for
from kbuild.verify.report import VerifyReport


def profile_entry(profile: Profile) -> BootSpec:
    """The boot entry kbuild writes for a profile (for UML: its launch line), as verify sees it."""
    if profile.arch == "um" and profile.uml is not None:
        from kbuild.boot import uml

        args = uml.command_args(profile)
    else:
        args = profile.kernel_args()
    return entry_from_cmdline(" ".join(args), f"profile {profile.name}", dom0=profile.xen is not None)


def profile_traits(profile: Profile) -> list[str]:
    """``efi`` for a profile with a UEFI loader, ``secure-boot`` with ``[secure_boot]``."""
    out = ["efi"] if any(ld in EFI_LOADERS for ld in profile.loaders) else []
    return out + (["secure-boot"] if profile.secure_boot is not None else [])


def profile_tree(site: Site, profile: Profile) -> str | None:
    """``debian`` for a profile built from a Debian package (linux-source-*), else None:
    verify then tells from the config (or the tree given with --srctree)."""
    source = site.sources.get(profile.source)
    return "debian" if source is not None and source.package is not None else None


def profile_nics(site: Site, profile: Profile) -> list[str]:
    """The profile's NICs, every host's NIC, and UML's transport."""
    names = list(profile.nics)
    names += [h.nic for h in site.hosts if h.profile == profile.name and h.nic]
    if profile.arch == "um" and profile.uml is not None:
        names.append("uml-vector" if profile.uml.transport == "vector" else "uml-tuntap")
    return list(dict.fromkeys(names))


def verify_profile(site: Site, profile: Profile, rules: RuleSet | None = None, *,
                   config: str | Path | None = None, entry: BootSpec | None = None,
                   nics: Sequence[str] = (), arch: str | None = None, dom0: bool | None = None,
                   kernel_version: str | None = None, srctree: str | Path | None = None,
                   fix: str | Path | None = None, traits: Sequence[str] = ()) -> VerifyReport:
    """Check a profile's .config against the entry kbuild writes for it and each distinct
    entry its hosts get (their consoles, extra arguments, NFS paths), with the NICs of the
    profile and its hosts, as dom0 when it boots Xen.

    ``doit verify:NAME``, publish and ``kbuild verify --profile NAME`` all call this; the
    command's options override: ``config`` (default: the profile's built .config, a
    UserError when it is not configured yet), ``entry`` (then only that entry is checked,
    not the hosts'), extra ``nics``, ``arch``, ``dom0``, ``kernel_version``, and
    ``srctree`` / ``fix`` (the fragment must make every checked entry pass). Raises
    UserError for bad input; failed requirements are in the report.
    """
    if config is None:
        path = layout.config_path(site, profile)
        if not path.is_file():
            raise UserError(f"profile {profile.name!r} is not configured yet", path=path,
                            hint=f"run: doit config:{profile.name}")
        try:
            shown = str(path.relative_to(site.root))
        except ValueError:
            shown = str(path)
    else:
        path, shown = Path(config), str(config)
    subject, ruleset = read_config_under_test(
        path, display=shown, kernel_version=kernel_version, arch=arch or profile.arch,
        arch_source="option" if arch else "profile", srctree=srctree, fix=fix,
        rules=rules or load_rules())
    nic_names = profile_nics(site, profile) + list(nics)
    is_dom0 = True if dom0 or profile.xen is not None else None
    subject.tree_hint = profile_tree(site, profile)
    all_traits = list(dict.fromkeys([*profile_traits(profile), *traits]))
    planned = plan_entry(subject, ruleset, entry or profile_entry(profile), nic_names, is_dom0,
                         all_traits)
    hosts = [] if entry is not None or profile.arch == "um" else [
        (host, plan_entry(subject, ruleset, spec, nic_names, is_dom0, all_traits))
        for host, spec in _host_entries(site, profile, planned.spec)]
    with contextlib.ExitStack() as scratch:
        subject.resolve(None, scratch)
        report = report_for(subject, ruleset, planned, profile.name)
        # add what a host's entry gets wrong that the profile's does not
        known = {(c.rule, c.found, c.verdict) for c in report.checks}
        for host, host_entry in hosts:
            for c in report_for(subject, ruleset, host_entry, profile.name).checks:
                if c.verdict != "pass" and (c.rule, c.found, c.verdict) not in known:
                    c.subject = f"host {host.name}: {c.subject}"
                    report.checks.append(c)
        explain_and_fix(subject, ruleset, report, fix, [planned.facts, *(e.facts for _, e in hosts)])
    return report


def _host_entries(site: Site, profile: Profile, own: BootSpec) -> list[tuple[Host, BootSpec]]:
    """The entries the profile's hosts get, each distinct one once (and not the profile's)."""
    seen = {own.cmdline.args}
    out = []
    for host in site.hosts:
        if host.profile != profile.name:
            continue
        args = profile.kernel_args(nfsroot=host_nfsroot(profile, host), console=host.console,
                                   extra=host.extra, root_mode=host.root_mode)
        spec = entry_from_cmdline(" ".join(args), f"host {host.name}", dom0=profile.xen is not None)
        if spec.cmdline.args not in seen:
            seen.add(spec.cmdline.args)
            out.append((host, spec))
    return out

"""A profile's checks: its built .config against the entry kbuild writes for it, its
NICs and its hosts' (the doit ``verify:`` task, publish, and ``kbuild verify --profile``)."""
from __future__ import annotations

from kbuild.boot.entry import BootSpec, entry_from_cmdline
from kbuild.errors import UserError
from kbuild.kconfig.configfile import read_values
from kbuild.rules.load import load_rules
from kbuild.rules.model import RuleSet
from kbuild.site.model import Profile, Site
from kbuild.verify.check import verify_config
from kbuild.verify.report import VerifyReport


def profile_entry(profile: Profile) -> BootSpec:
    """The boot entry kbuild writes for a profile (for UML: its launch line), as verify sees it."""
    if profile.arch == "um" and profile.uml is not None:
        from kbuild.boot import uml

        args = uml.command_args(profile)
    else:
        args = profile.kernel_args()
    return entry_from_cmdline(" ".join(args), f"profile {profile.name}", dom0=profile.xen is not None)


def profile_nics(site: Site, profile: Profile) -> list[str]:
    """The profile's NICs, every host's NIC, and UML's transport."""
    names = list(profile.nics)
    names += [h.nic for h in site.hosts if h.profile == profile.name and h.nic]
    if profile.arch == "um" and profile.uml is not None:
        names.append("uml-vector" if profile.uml.transport == "vector" else "uml-tuntap")
    return list(dict.fromkeys(names))


def verify_profile(site: Site, profile: Profile, rules: RuleSet | None = None) -> VerifyReport:
    """Check a profile's built .config against its own boot entry, NICs, dom0/UML."""
    from kbuild.site import layout

    config = layout.config_path(site, profile)
    if not config.is_file():
        raise UserError(f"profile {profile.name!r} is not configured yet", path=config,
                        hint=f"run: doit config:{profile.name}")
    try:
        shown = str(config.relative_to(site.root))
    except ValueError:
        shown = str(config)
    cfg = read_values(config, shown)
    ruleset = rules or load_rules()
    nics = profile_nics(site, profile)
    common = dict(display=shown, arch=profile.arch, arch_source="profile", nics=nics,
                  dom0=profile.xen is not None, rules=ruleset, profile=profile.name, values=cfg)
    entry = profile_entry(profile)
    report = verify_config(config, entry=entry, **common)  # type: ignore[arg-type]
    if profile.arch == "um":
        return report
    # Hosts may change the entry (console, extra arguments, their own NFS path):
    # check each distinct one, and add what it gets wrong that the profile does not.
    from kbuild.boot.entry import host_nfsroot

    seen = {entry.cmdline.args}
    known = {(c.rule, c.found, c.verdict) for c in report.checks}
    for host in site.hosts:
        if host.profile != profile.name:
            continue
        args = profile.kernel_args(nfsroot=host_nfsroot(profile, host), console=host.console,
                                   extra=host.extra)
        spec = entry_from_cmdline(" ".join(args), f"host {host.name}", dom0=profile.xen is not None)
        if spec.cmdline.args in seen:
            continue
        seen.add(spec.cmdline.args)
        for c in verify_config(config, entry=spec, **common).checks:  # type: ignore[arg-type]
            if c.verdict != "pass" and (c.rule, c.found, c.verdict) not in known:
                c.subject = f"host {host.name}: {c.subject}"
                report.checks.append(c)
    return report

"""Assemble the TFTP tree (boot loaders, kernels, entries) from what has been built."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kbuild.boot import binaries as bootloaders
from kbuild.boot import pxelinux, server
from kbuild.boot.entry import BootEntry, kernel_relpath, make_entry
from kbuild.build.kernel import read_build_record
from kbuild.errors import UserError
from kbuild.publish import quick
from kbuild.publish.apply import PROGRESS_EVERY, PROGRESS_FROM, publish
from kbuild.publish.plan import PublishReport, TreeFile
from kbuild.site import layout
from kbuild.site.model import EFI_LOADERS, LOADERS, Host, Profile, Site
from kbuild.source.kinds import fetch_source, source_provenance
from kbuild.util.files import sha256_text, write_text_if_changed
from kbuild.util.gcpause import collector_paused
from kbuild.util.progress import CountProgress, Progress


@dataclass
class BuiltProfile:
    """A profile that has a build record and an image."""

    profile: Profile
    record: dict[str, object]

    @property
    def release(self) -> str:
        return str(self.record["kernel_release"])

    @property
    def image(self) -> Path:
        return Path(str(self.record["image_path"]))


def built_profiles(site: Site, only: list[str] | None = None) -> list[BuiltProfile]:
    out = []
    for name, profile in site.profiles.items():
        if only is not None and name not in only:
            continue
        path = layout.build_record(site, profile)
        if not path.is_file():
            continue
        record = read_build_record(site, profile)
        image = layout.build_dir(site, profile) / str(record["image"])
        if not image.is_file():
            continue
        record["image_path"] = str(image)
        out.append(BuiltProfile(profile, record))
    return out


def _meta(b: BuiltProfile) -> dict[str, str]:
    r = b.record
    return {"profile": b.profile.name, "kernel_release": b.release,
            "config_sha256": str(r["config_sha256"]), "source": str(r["source"]),
            # the image make built (before any signing): what verify-build rebuilds to
            **({"image_sha256": str(r["image_sha256"])} if r.get("image_sha256") else {}),
            "source_sha256": str(r["source_sha256"]), "patches": str(r.get("patches") or ""),
            **{k: str(v) for k, v in r.items() if k.startswith("source_") and k != "source_sha256"}}


def _default_label(entries: list[BootEntry]) -> str | None:
    labels = [e.label for e in entries]
    return "nfsroot" if "nfsroot" in labels else (labels[0] if labels else None)


@dataclass
class StagePlan:
    """The staged tree: every file, the profiles' and hosts' entries, and warnings (hosts
    whose profile is not built)."""

    files: list[TreeFile]
    entries: list[BootEntry]
    host_entries: dict[str, BootEntry]
    warnings: list[str]


@dataclass
class _Built:
    release: str
    hypervisor: str | None = None
    multiboot2: bool = False
    plain_hypervisor: str | None = None
    uml_binary: str | None = None


def plan_tree(site: Site, target: Path | None = None, progress: Progress | None = None) -> StagePlan:
    """Every file of the TFTP tree for the current builds and hosts (``target``: the tree
    it will be published to, which must not hold a signing key; ``progress``: told
    ``render hosts: done/total`` for a large site)."""
    from kbuild.boot import efi, grub, grub_legacy, hostfiles, ipxe, multiboot, uml
    files: list[TreeFile] = []
    entries: list[BootEntry] = []
    built: dict[str, _Built] = {}
    warnings: list[str] = []
    by_loader: dict[str, list[BootEntry]] = {ld: [] for ld in LOADERS + EFI_LOADERS}
    plain_hypervisor: dict[str, str] = {}
    for b in built_profiles(site):
        p = b.profile
        meta = _meta(b)
        if p.arch == "um":
            binary = f"images/{p.name}/linux-{b.release}"
            files.append(TreeFile(binary, source=b.image, mode=0o755, role="payload", meta=meta))
            files.append(TreeFile(f"uml/{p.name}.sh", data=uml.launch_script(p, binary).encode(),
                                  mode=0o755, role="entry", meta={"profile": p.name}))
            built[p.name] = _Built(b.release, uml_binary=binary)
            continue
        files.append(_kernel_file(site, p, b, meta, target))
        # the kernel's .config beside it, as /boot/config-* on a distro: explain-boot and
        # verify read the exact configuration a published kernel was built from
        files.append(TreeFile(f"images/{p.name}/config-{b.release}",
                              source=layout.build_dir(site, p) / ".config", role="payload", meta=meta))
        hyp_name = None
        mb2 = False
        if p.xen:
            hsrc = site.sources[p.xen.hypervisor]
            cached = fetch_source(site, hsrc)
            info = multiboot.inspect(cached)
            if not (info.multiboot1 or info.multiboot2):
                raise UserError(f"{hsrc.filename} has no multiboot header: not a Xen hypervisor",
                                path=cached)
            mb2 = info.multiboot2
            if "grub-efi-unsigned" in p.loaders and not info.efi64:
                raise UserError(f"{hsrc.filename} has no multiboot2 EFI entry: GRUB EFI cannot "
                                "start it (loader grub-efi-unsigned)", path=cached,
                                hint="use a Xen >= 4.9 built with EFI support, or drop "
                                     "grub-efi-unsigned from the profile's loaders")
            hyp_name = hsrc.filename
            hmeta = {"profile": p.name, "source": hsrc.name, "source_sha256": hsrc.sha256,
                     "role": "hypervisor", **source_provenance(hsrc)}
            files.append(TreeFile(f"images/{p.name}/{hyp_name}", source=cached, role="payload",
                                  meta=hmeta))
            if "ipxe" in p.loaders and info.compressed:
                plain = hyp_name.removesuffix(".gz")
                plain_hypervisor[p.name] = f"images/{p.name}/{plain}"
                files.append(TreeFile(plain_hypervisor[p.name], data=multiboot.decompress(cached),
                                      role="payload", meta={**hmeta, "decompressed": "yes"}))
        e = make_entry(p, b.release, hypervisor_file=hyp_name, multiboot2=mb2)
        built[p.name] = _Built(b.release, hyp_name, mb2, plain_hypervisor.get(p.name))
        entries.append(e)
        for ld in p.loaders:
            by_loader[ld].append(e)

    if by_loader["pxelinux"]:
        pe = by_loader["pxelinux"]
        for name in pxelinux.needed_files(pe, menu=True):
            files.append(_loader_file(name))
        files.append(TreeFile("pxelinux.cfg/default",
                              data=pxelinux.menu_config(pe, _default_label(pe)).encode()))
    if by_loader["grub2"]:
        for rel, path in bootloaders.grub_netboot_files(layout.cache_dir(site)).items():
            files.append(TreeFile(rel, source=path, role="payload", meta={"origin": "grub-mknetdir"}))
    if by_loader["grub-efi"]:
        for name in efi.GRUB_EFI_FILES:
            files.append(_loader_file(name))
    if by_loader["grub-efi-unsigned"]:
        from kbuild.boot import grub_image
        files.append(TreeFile(grub_image.BOOT_FILE, role="payload", meta={"origin": "grub-mkimage"},
                              source=grub_image.efi_netboot_image(layout.cache_dir(site))))
    if by_loader["grub2"] or by_loader["grub-efi"] or by_loader["grub-efi-unsigned"]:
        ge, platform_of = efi.grub_menu_entries(by_loader["grub2"], by_loader["grub-efi"],
                                                by_loader["grub-efi-unsigned"])
        files.append(TreeFile("grub/grub.cfg", data=grub.menu_config(
            ge, _default_label(ge), efi_lookup=bool(by_loader["grub-efi"]),
            platform_of=platform_of).encode()))
    if by_loader["grub-legacy"]:
        le = by_loader["grub-legacy"]
        files.append(TreeFile("grub/menu.lst",
                              data=grub_legacy.menu_config(le, _default_label(le)).encode()))
    if by_loader["ipxe"]:
        files.append(_loader_file("undionly.kpxe"))
    if by_loader["ipxe-efi"]:
        for name in efi.IPXE_EFI_FILES:
            files.append(_loader_file(name))
    if by_loader["ipxe"] or by_loader["ipxe-efi"]:
        ie = by_loader["ipxe"] + [e for e in by_loader["ipxe-efi"] if e not in by_loader["ipxe"]]
        files.append(TreeFile("ipxe/default.ipxe", data=ipxe.menu_script(ie, _default_label(ie)).encode()))
        for e in ie:
            files.append(TreeFile(f"ipxe/{e.label}.ipxe",
                                  data=ipxe.script(e, plain_hypervisor.get(e.profile),
                                                    f"tftp://{site.boot_server}",
                                                    site.http_base).encode()))

    host_entries: dict[str, BootEntry] = {}
    shapes: dict[tuple[object, ...], BootEntry | None] = {}
    count = CountProgress(progress if len(site.hosts) >= PROGRESS_FROM else None, "render hosts",
                          len(site.hosts), every=PROGRESS_EVERY)
    for host in site.hosts:
        count()
        hinfo = built.get(host.profile)
        if hinfo is None:
            warnings.append(not_built(host.name, host.profile))
            continue
        p = site.profiles[host.profile]
        he = _host_entry(shapes, p, hinfo, host)
        host_entries[host.name] = he
        for hf in hostfiles.host_files(host, p, he, hinfo.uml_binary, hinfo.plain_hypervisor,
                                       f"tftp://{site.boot_server}", site.hexip_files,
                                       site.http_base):
            files.append(TreeFile(hf.relpath, data=hf.text.encode(), mode=hf.mode, role="entry",
                                  meta={"profile": p.name, "host": host.name,
                                        "kernel_release": hinfo.release}))
    return StagePlan(files, entries, host_entries, warnings)


def not_built(host: str, profile: str) -> str:
    """The warning for a host whose profile has no build."""
    return (f"host {host}: profile {profile} is not built; "
            f"no boot files written (run: doit kernel:{profile})")


def _host_entry(shapes: dict[tuple[object, ...], BootEntry | None], p: Profile, hinfo: _Built,
                host: Host) -> BootEntry:
    """make_entry for a host. Hosts of one profile with the same NFS path, console, extra
    arguments and root mode get the same entry but for the name (label, title, host):
    the first one's entry is made in full and the others' by putting in their name.
    make_entry reads no other field of a host (tests/publish/test_scale_paths.py
    compares both ways)."""
    key = (p.name, host.nfs_path, host.console, host.extra, host.root_mode)
    if key not in shapes:
        he = make_entry(p, hinfo.release, host=host, hypervisor_file=hinfo.hypervisor,
                        multiboot2=hinfo.multiboot2)
        plain = he.host == host.name and he.label == host.name and he.title.startswith(host.name)
        shapes[key] = he if plain else None
        return he
    proto = shapes[key]
    if proto is None or proto.host is None:
        return make_entry(p, hinfo.release, host=host, hypervisor_file=hinfo.hypervisor,
                          multiboot2=hinfo.multiboot2)
    return replace(proto, label=host.name, host=host.name,
                   title=host.name + proto.title[len(proto.host):])


def _kernel_file(site: Site, p: Profile, b: BuiltProfile, meta: dict[str, str],
                 target: Path | None) -> TreeFile:
    """The staged kernel; for a Secure Boot profile, signed by the site key (the manifest
    records the certificate's fingerprint), never the unsigned image."""
    rel = kernel_relpath(p, b.release)
    if p.secure_boot is None:
        return TreeFile(rel, source=b.image, role="payload", meta=meta)
    from kbuild.signing import keys, sign

    key = keys.check_pair(p.secure_boot.key, p.secure_boot.cert)
    trees = {site.tftp_root, layout.stage_dir(site)} | ({target} if target else set())
    for tree in sorted(t.resolve() for t in trees):
        if key.key.resolve().is_relative_to(tree):
            raise UserError("the Secure Boot private key lies inside a published tree, where TFTP "
                            "would serve it", path=key.key, hint="keep it outside " + str(tree))
    signed = sign.signed_copy(b.image, key, layout.cache_dir(site) / "signed", rel)
    return TreeFile(rel, source=signed, role="payload",
                    meta={**meta, "secure_boot": "signed", "signer_cert_sha256": key.fingerprint})


def _loader_file(name: str) -> TreeFile:
    path = bootloaders.locate(name)
    return TreeFile(name, source=path, role="payload", meta={"origin": str(path)})


def stage(site: Site, target: Path | None = None, dry_run: bool = False) -> PublishReport:
    report, _plan = stage_with_plan(site, target, dry_run)
    return report


def stage_with_plan(site: Site, target: Path | None = None, dry_run: bool = False, *,
                    verified: bool = False,
                    progress: Progress | None = None) -> tuple[PublishReport, StagePlan]:
    """Plan and publish the tree, write the server snippets, and record the inputs for
    the quick no-op check (``verified``: every built profile passed verify first;
    ``progress``: told how rendering and writing go for a large site)."""
    # 50,000 hosts are a million small objects and no cycles: the collector would scan
    # the growing heap again and again (a quarter of the CPU time)
    with collector_paused():
        return _stage_with_plan(site, target, dry_run, verified, progress)


def _stage_with_plan(site: Site, target: Path | None, dry_run: bool, verified: bool,
                     progress: Progress | None) -> tuple[PublishReport, StagePlan]:
    dest = target or layout.stage_dir(site)
    plan = plan_tree(site, dest, progress)
    files = plan.files
    if not files:
        raise UserError("nothing to stage: no profile has been built",
                        hint="run: doit kernel:<profile>")
    report = publish(files, dest, keep=site.keep_generations, dry_run=dry_run, progress=progress)
    snip = server.snippets(site)
    plan.warnings.extend(snip.warnings)
    if not dry_run:
        from kbuild.publish import hoststate

        for name, text in snip.files.items():
            write_text_if_changed(layout.server_dir(site) / name, text)
        inputs = [*quick.input_paths(site, files),
                  *(str(layout.server_dir(site) / name) for name in snip.files)]
        hosts = hoststate.save_state(dest, site, snip.segments)
        quick.record(dest, site.path, inputs, files, report, verified=verified,
                     warnings=plan.warnings, hosts=hosts)
    return report, plan


def unchanged_publish(site_path: Path, target: Path | None, *,
                      need_verified: bool = False) -> tuple[PublishReport, list[str]] | None:
    """The report of a site publish to ``target`` (default: the site's tftp_root) that
    would change nothing, told without loading the site (kbuild/publish/quick.py); None
    when it must run in full."""
    from kbuild.site.load import tftp_root_at_sight

    dest = target or tftp_root_at_sight(site_path)
    if dest is None:
        return None
    return quick.unchanged(site_path, dest, need_verified=need_verified)


def site_digest(site: Site) -> str:
    """Digest of everything in the site file that shapes the staged tree."""
    data: dict[str, Any] = {
        "profiles": {n: asdict(p) for n, p in sorted(site.profiles.items())},
        "hosts": [asdict(h) for h in site.hosts],
        "boot_server": site.boot_server,
        "sources": {n: src.sha256 for n, src in sorted(site.sources.items())},
        "loaders": {name: _file_identity(name) for name in
                    ("pxelinux.0", "ldlinux.c32", "menu.c32", "libutil.c32", "mboot.c32",
                     "libcom32.c32", "bootx64.efi", "grubx64.efi", "mmx64.efi", "ipxe.efi",
                     "snponly.efi")},
    }
    if any("grub-efi-unsigned" in p.loaders for p in site.profiles.values()):
        # the image is made from the installed GRUB's modules
        from kbuild.boot import grub_image

        data["grub_efi_unsigned"] = grub_image.identity() if grub_image.MODULE_DIR.is_dir() else "missing"
    if site.http_base:
        data["http_base"] = site.http_base   # iPXE scripts carry it
    for prof in data["profiles"].values():
        prof.pop("line", None)
    for host in data["hosts"]:
        host.pop("line", None)
    return sha256_text(json.dumps(data, sort_keys=True, default=str))


def _file_identity(name: str) -> str:
    try:
        st = bootloaders.locate(name).stat()
    except Exception:  # a missing loader is reported by the stage action itself
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"

"""CycloneDX SBOM (envsnap[sbom]): Snapshot (+ a lock's hashes) -> CycloneDX 1.6 JSON, pure."""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import BadInputError
from ..redact import redact_text, redact_url
from . import require

if TYPE_CHECKING:
    from ..snapshot import GPU, CondaPackage, LibraryCopy, Package, Snapshot

__all__ = ["FORMATS", "LockHashes", "cyclonedx_json", "parse_lock"]

FORMATS = ("cyclonedx",)
SPEC_VERSION = "1.6"
# Serial numbers are derived from the snapshot's digest, so exporting the same snapshot twice
# gives the same document (a uuid4 would differ on every run).
_SERIAL_NAMESPACE = uuid.UUID("6f1c3bb2-1d0e-5b7e-9a51-8a2b7e0c4d10")
# Custom property names live under our own namespace, beside CycloneDX's cdx: taxonomy
# (https://github.com/CycloneDX/cyclonedx-property-taxonomy).
_P = "envsnap:"

# CycloneDX hash algorithm names, from the lock files' lowercase hashlib names.
_HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384",
               "sha512": "SHA-512", "sha3_256": "SHA3-256", "sha3_384": "SHA3-384",
               "sha3_512": "SHA3-512", "blake2b_256": "BLAKE2b-256"}
_HEX = re.compile(r"[0-9a-fA-F]+")


# ---------------------------------------------------------------------------------------------
# Hashes from a lock file (requirements.txt with --hash, or a PEP 751 pylock.toml)


@dataclass(frozen=True, slots=True)
class LockHashes:
    """(canonical name, version or None for "any version") -> ((algorithm, hex), ...), sorted."""

    by_pin: Mapping[tuple[str, str | None], tuple[tuple[str, str], ...]]

    def get(self, name: str, version: str) -> tuple[tuple[str, str], ...]:
        name = canonicalize_name(name)
        return self.by_pin.get((name, version)) or self.by_pin.get((name, None)) or ()


# pip's own comment rule (pip/_internal/req/req_file.py COMMENT_RE): "#" at the start of a line
# or after whitespace; a "#" inside a URL fragment (#sha256=, #egg=) is not one.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_HASH_OPTION = re.compile(r"--hash[=\s]+([A-Za-z0-9_]+):([0-9a-fA-F]+)")


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with ``\\`` continuations joined and comments removed, with the first line's number."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        stripped = _COMMENT.sub("", line)
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            yield start, joined
    if pending:
        yield start, " ".join(part.strip() for part in pending).strip()


def _requirements_hashes(text: str, source: str) -> dict[tuple[str, str | None], tuple[tuple[str, str], ...]]:
    """``name==version --hash=sha256:...`` (pip-compile's layout) -> hashes per pin.

    Sample::

        numpy==2.1.0 \\
            --hash=sha256:0123... \\
            --hash=sha256:4567...
        mylib @ https://example.org/mylib-1.0.tar.gz --hash=sha256:89ab...
    """
    out: dict[tuple[str, str | None], tuple[tuple[str, str], ...]] = {}
    for number, line in _logical_lines(text):
        if line.startswith("-"):  # --index-url, -r other.txt, -e ./project: not a pin
            continue
        spec = re.split(r"\s+--?[A-Za-z]", line, maxsplit=1)[0].strip().rstrip(";")
        try:
            req = Requirement(spec)
        except InvalidRequirement:
            raise BadInputError(f"{source}: line {number}: not a requirement ({spec[:80]!r})") from None
        pins = [s.version for s in req.specifier if s.operator in ("==", "===")]
        version = pins[0] if len(pins) == 1 and "*" not in pins[0] else None
        hashes = tuple(sorted({(alg.lower(), h.lower()) for alg, h in _HASH_OPTION.findall(line)}))
        if hashes:
            out[(canonicalize_name(req.name), version)] = hashes
    return out


def _pylock_hashes(text: str, source: str) -> dict[tuple[str, str | None], tuple[tuple[str, str], ...]]:
    """Every file hash of every package in a pylock.toml, read with packaging's own model."""
    from packaging.pylock import Pylock, PylockValidationError

    from ..io import parse_toml

    try:
        lock = Pylock.from_dict(parse_toml(text))
    except (ValueError, PylockValidationError) as exc:  # TOMLDecodeError is a ValueError
        raise BadInputError(f"{source}: not a valid pylock.toml ({exc})") from None
    out: dict[tuple[str, str | None], tuple[tuple[str, str], ...]] = {}
    for pkg in lock.packages:
        files: list[Mapping[str, str]] = [w.hashes for w in pkg.wheels or ()]
        files += [f.hashes for f in (pkg.sdist, pkg.archive) if f is not None]
        hashes = tuple(sorted({(alg.lower(), h.lower()) for m in files for alg, h in m.items()}))
        if hashes:
            out[(canonicalize_name(pkg.name), str(pkg.version) if pkg.version else None)] = hashes
    return out


def parse_lock(text: str, *, source: str) -> LockHashes:
    """Hashes from a lock file's text: pylock.toml (PEP 751) when ``source`` ends in .toml,
    else a requirements file with ``--hash`` options. ``source`` names the file in errors."""
    if source.endswith(".toml"):
        return LockHashes(_pylock_hashes(text, source))
    return LockHashes(_requirements_hashes(text, source))


# ---------------------------------------------------------------------------------------------
# The document


def _text(value: str) -> str:
    # Everything written goes through the one rule set; paths and free text included.
    return redact_text(value)


class _Builder:
    """Builds the cyclonedx-python-lib model; imported lazily with the sbom extra."""

    def __init__(self) -> None:
        require("cyclonedx", "sbom")
        from cyclonedx import model
        from cyclonedx.model import component, contact
        from packageurl import PackageURL

        self.m = model
        self.c = component
        self.contact = contact
        self.PackageURL = PackageURL

    # -- small helpers -------------------------------------------------------------------------

    def props(self, values: Mapping[str, object]) -> list[Any]:
        out = []
        for name, value in values.items():
            if value is None or value == "" or value == ():
                continue
            if isinstance(value, bool):
                shown = "true" if value else "false"
            elif isinstance(value, (tuple, list)):
                shown = " ".join(map(str, value))
            else:
                shown = str(value)
            out.append(self.m.Property(name=_P + name, value=_text(shown)))
        return out

    def hashes(self, pairs: Iterable[tuple[str, str]]) -> list[Any]:
        out = []
        for alg, digest in pairs:
            cdx_name = _HASH_NAMES.get(alg.lower().replace("-", "_"))
            if cdx_name is None or not _HEX.fullmatch(digest):
                continue  # an algorithm CycloneDX has no name for is left out, not guessed
            out.append(self.m.HashType(alg=self.m.HashAlgorithm(cdx_name), content=digest.lower()))
        return out

    def ref(self, kind: Any, url: str, comment: str | None = None,
            hashes: Iterable[tuple[str, str]] = ()) -> Any | None:
        from cyclonedx.exception.model import InvalidUriException

        try:
            uri = self.m.XsUri(redact_url(url))
        except InvalidUriException:  # a stray "%" or two "#": kept as a property instead
            return None
        return self.m.ExternalReference(type=kind, url=uri, comment=comment,
                                        hashes=self.hashes(hashes))

    # -- components ----------------------------------------------------------------------------

    def python(self, pkg: Package, lock: LockHashes | None, framework: Any) -> Any:
        ert = self.m.ExternalReferenceType
        purl = self.PackageURL(type="pypi", name=pkg.name, version=pkg.version)
        qualifiers: dict[str, str] = {}
        refs = []
        hashes: list[tuple[str, str]] = list(lock.get(pkg.name, pkg.version)) if lock else []
        src = pkg.source
        source_props: dict[str, object] = {}
        if src is not None:
            source_hash = _split_hash(src.hash)
            url = src.url or ""
            if src.kind == "vcs" and url:
                # pip's direct-reference form, which `pip install` accepts back.
                locator = url if src.vcs and url.startswith(f"{src.vcs}+") else f"{src.vcs or 'git'}+{url}"
                locator += f"@{src.commit}" if src.commit else ""
                revision = src.requested_revision
                ref = self.ref(ert.VCS, locator, comment=_text(revision) if revision else None)
                if ref is not None:
                    qualifiers["vcs_url"] = str(ref.url)
            elif src.kind in ("archive", "url") and url:
                ref = self.ref(ert.DISTRIBUTION, url, hashes=[source_hash] if source_hash else ())
            elif url:  # editable, dir: a local directory
                ref = self.ref(ert.OTHER, url, comment=f"installed from a local directory ({src.kind})")
            else:
                ref = None
            if ref is not None:
                refs.append(ref)
            elif url:
                source_props["source_url"] = redact_url(url)
            if source_hash and not hashes:
                hashes.append(source_hash)
            source_props["source"] = src.kind
            source_props["subdirectory"] = src.subdirectory
        full = self.PackageURL(type="pypi", name=pkg.name, version=pkg.version,
                               qualifiers=qualifiers or None)
        props: dict[str, object] = {
            "installer": pkg.installer, "requested": pkg.requested or None, "owner": pkg.owner,
            **source_props,
        }
        if framework is not None:
            props.update({"built_for_cuda": framework.cuda, "variant": framework.variant,
                          "cudnn": framework.cudnn, "nccl": framework.nccl,
                          "arch_list": framework.arch_list})
        return self.c.Component(
            type=self.c.ComponentType.LIBRARY, name=pkg.name, version=pkg.version,
            bom_ref=purl.to_string(), purl=full, hashes=self.hashes(hashes),
            external_references=refs, properties=self.props(props))

    def conda(self, pkg: CondaPackage) -> Any:
        qualifiers = {"build": pkg.build, "subdir": pkg.subdir,
                      "channel": _channel_name(pkg.channel), "type": _conda_type(pkg.url)}
        purl = self.PackageURL(type="conda", name=pkg.name, version=pkg.version,
                               qualifiers={k: v for k, v in qualifiers.items() if v})
        refs = []
        if pkg.url:
            ref = self.ref(self.m.ExternalReferenceType.DISTRIBUTION, pkg.url)
            if ref is not None:
                refs.append(ref)
        hashes = [(alg, h) for alg, h in (("md5", pkg.md5), ("sha256", pkg.sha256)) if h]
        return self.c.Component(
            type=self.c.ComponentType.LIBRARY, name=pkg.name, version=pkg.version,
            bom_ref=purl.to_string(), purl=purl, hashes=self.hashes(hashes),
            external_references=refs,
            properties=self.props({"conda_channel": pkg.channel, "requested_spec": pkg.requested_spec,
                                   "noarch": pkg.noarch}))

    def gpu(self, gpu: GPU) -> Any:
        firmware = []
        if gpu.vbios:
            # A device with firmware SHOULD carry it as its own component (CycloneDX 1.6,
            # component.type "device").
            firmware.append(self.c.Component(type=self.c.ComponentType.FIRMWARE, name="vbios",
                                             version=_text(gpu.vbios), bom_ref=f"gpu:{gpu.index}:vbios"))
        return self.c.Component(
            type=self.c.ComponentType.DEVICE, name=_text(gpu.name), bom_ref=f"gpu:{gpu.index}",
            manufacturer=self.contact.OrganizationalEntity(name="NVIDIA"),
            components=firmware,
            properties=self.props({"index": gpu.index, "compute_capability": gpu.compute_capability,
                                   "memory_bytes": gpu.memory_bytes, "mig_mode": gpu.mig_mode}))

    def cuda_library(self, index: int, lib: LibraryCopy) -> Any:
        return self.c.Component(
            type=self.c.ComponentType.LIBRARY, name=lib.library,
            version=_text(lib.version) if lib.version else None,
            bom_ref=f"cuda-library:{index}:{lib.library}",
            properties=self.props({"path": lib.path, "found_via": lib.found_via, "soname": lib.soname}))


def _split_hash(value: str | None) -> tuple[str, str] | None:
    """PEP 610's ``archive_info.hash`` form, ``sha256=<hex>``."""
    if not value or "=" not in value:
        return None
    alg, _, digest = value.partition("=")
    return alg, digest


def _channel_name(channel: str | None) -> str | None:
    """purl's conda ``channel`` qualifier: the channel's name (``conda-forge``; ``main`` for
    Anaconda's ``pkgs/main``, as purl-spec's own example has it). The snapshot holds names for
    Anaconda's hosts already (probes/conda.py channel_name); another host's channel stays a URL."""
    if not channel:
        return None
    if "://" in channel:
        return redact_url(channel)
    return channel.removeprefix("pkgs/")


def _conda_type(url: str | None) -> str | None:
    if url and url.endswith(".conda"):
        return "conda"
    if url and url.endswith(".tar.bz2"):
        return "tar.bz2"
    return None


def _timestamp(captured_at: str) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.strptime(captured_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return parsed.replace(tzinfo=datetime.timezone.utc)


def cyclonedx_json(snapshot: Snapshot, *, lock: LockHashes | None = None) -> str:
    """The CycloneDX 1.6 JSON document of a snapshot: one component per Python distribution
    (``pkg:pypi``, PEP 610 sources as external references), per conda package (``pkg:conda``),
    the OS, the NVIDIA driver and each GPU, the CUDA toolkit and each CUDA library copy found;
    hashes from ``lock`` where it pins the package. The same snapshot gives the same bytes."""
    from .. import __version__

    b = _Builder()
    from cyclonedx.model.bom import Bom
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    c = b.c
    bom = Bom(serial_number=uuid.uuid5(_SERIAL_NAMESPACE, snapshot.digest))
    stamp = _timestamp(snapshot.meta.captured_at)
    if stamp is not None:
        bom.metadata.timestamp = stamp
    bom.metadata.tools.components.add(c.Component(
        type=c.ComponentType.APPLICATION, name="envsnap", version=__version__,
        bom_ref="tool:envsnap"))
    bom.metadata.properties.update(b.props({"digest": snapshot.digest,
                                            "envsnap_version": snapshot.meta.envsnap_version}))

    components: list[Any] = []
    py = snapshot.python
    by_name: dict[str, Any] = {}
    if py is not None:
        frameworks = {f.name: f for f in snapshot.frameworks}
        for pkg in py.packages:
            comp = b.python(pkg, lock, frameworks.get(pkg.name))
            by_name[pkg.name] = comp
            components.append(comp)
    if snapshot.conda is not None:
        components += [b.conda(pkg) for pkg in snapshot.conda.packages]
    os_ = snapshot.os
    if os_ is not None:
        components.append(c.Component(
            type=c.ComponentType.OPERATING_SYSTEM, name=_text(os_.distro_id or os_.system.lower()),
            version=_text(os_.distro_version) if os_.distro_version else None,
            description=_text(os_.pretty_name) if os_.pretty_name else None, bom_ref="os",
            properties=b.props({"system": os_.system, "arch": os_.arch, "kernel": os_.kernel,
                                "glibc": os_.glibc, "libstdcxx": os_.libstdcxx,
                                "container": os_.container})))
    nv = snapshot.nvidia
    if nv is not None:
        if nv.driver_version or nv.kernel_module_version:
            components.append(c.Component(
                type=c.ComponentType.DEVICE_DRIVER, name="nvidia-driver",
                version=_text(nv.driver_version or nv.kernel_module_version or ""),
                bom_ref="nvidia-driver",
                properties=b.props({"supports_cuda": nv.cuda_driver_version,
                                    "kernel_module_version": nv.kernel_module_version,
                                    "nvml_version": nv.nvml_version})))
        components += [b.gpu(g) for g in nv.gpus]
    cuda = snapshot.cuda
    if cuda is not None:
        if cuda.toolkit_version:
            # "a parallel computing platform and programming model" (NVIDIA's own description):
            # CycloneDX's platform, a runtime environment that executes software.
            components.append(c.Component(
                type=c.ComponentType.PLATFORM, name="cuda-toolkit", version=_text(cuda.toolkit_version),
                bom_ref="cuda-toolkit",
                properties=b.props({"path": cuda.toolkit_path, "found_via": cuda.toolkit_found_via,
                                    "nvcc_version": cuda.nvcc_version})))
        components += [b.cuda_library(i, lib) for i, lib in enumerate(cuda.libraries)]
    for comp in components:
        bom.components.add(comp)
    if py is not None:
        from ..graph import Graph

        graph = Graph(py)  # the dependency edges diff and check reason over, one rule
        for pkg in py.packages:
            deps = [by_name[n] for n in sorted(graph.dependencies(pkg.name)) if n in by_name]
            bom.register_dependency(by_name[pkg.name], deps)
    outputter = make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6)
    return str(outputter.output_as_string(indent=2)) + "\n"


"""CycloneDX SBOM (envsnap[sbom]): Snapshot (+ a lock's hashes) -> CycloneDX 1.6 JSON, pure."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .. import rules, tomlreader
from ..errors import BadInputError
from ..graph import Graph
from ..redact import redact_text, redact_url
from ..version import __version__
from . import require

if TYPE_CHECKING:
    from ..snapshot import GPU, CondaPackage, Framework, LibraryCopy, Package, Snapshot

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
    # Local import: packaging's pylock model (20-27 ms) is needed for --lock pylock.toml only.
    from packaging.pylock import Pylock, PylockValidationError

    try:
        lock = Pylock.from_dict(tomlreader.loads(text))
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
#
# Written as plain JSON, one pass over the snapshot: cyclonedx-python-lib's model and outputter
# are quadratic in the component count (Bom.validate registers every component by a linear
# search of the dependencies: 27 s for 10,000 packages), so only its URI and SPDX rules are
# used here. The document is checked against the CycloneDX 1.6 schema in the tests.

SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
_DECLARED = "declared"  # CycloneDX 1.6 license acknowledgement: what the package states

# "License ::" trove classifiers that name exactly one SPDX license (PEP 639, "Mapping License
# Classifiers to SPDX Identifiers": https://peps.python.org/pep-0639/#mapping-license-classifiers-to-spdx-identifiers;
# ids from https://spdx.org/licenses/). A classifier that leaves the version open ("BSD
# License", "Apache Software License", "MPL 2.0" with or without the copyleft exception) maps
# to nothing and is kept as a license name, as cyclonedx-py keeps it.
_CLASSIFIER_SPDX = {
    "Aladdin Free Public License (AFPL)": "Aladdin",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "CeCILL-B Free Software License Agreement (CECILL-B)": "CECILL-B",
    "CeCILL-C Free Software License Agreement (CECILL-C)": "CECILL-C",
    "Nokia Open Source License (NOKOS)": "Nokia",
    "OSI Approved :: Attribution Assurance License": "AAL",
    "OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "OSI Approved :: CEA CNRS Inria Logiciel Libre License, version 2.1 (CeCILL-2.1)": "CECILL-2.1",
    "OSI Approved :: Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
    "OSI Approved :: Common Public License": "CPL-1.0",
    "OSI Approved :: Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "OSI Approved :: European Union Public Licence 1.0 (EUPL 1.0)": "EUPL-1.0",
    "OSI Approved :: European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
    "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "OSI Approved :: IBM Public License": "IPL-1.0",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Intel Open Source License": "Intel",
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: MirOS License (MirOS)": "MirOS",
    "OSI Approved :: Motosoto License": "Motosoto",
    "OSI Approved :: Mozilla Public License 1.0 (MPL)": "MPL-1.0",
    "OSI Approved :: Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "OSI Approved :: Mulan Permissive Software License v2 (MulanPSL-2.0)": "MulanPSL-2.0",
    "OSI Approved :: Nethack General Public License": "NGPL",
    "OSI Approved :: Nokia Open Source License": "Nokia",
    "OSI Approved :: Open Group Test Suite License": "OGTSL",
    "OSI Approved :: Open Software License 3.0 (OSL-3.0)": "OSL-3.0",
    "OSI Approved :: PostgreSQL License": "PostgreSQL",
    "OSI Approved :: Python License (CNRI Python License)": "CNRI-Python",
    "OSI Approved :: Python Software Foundation License": "Python-2.0",
    "OSI Approved :: Qt Public License (QPL)": "QPL-1.0",
    "OSI Approved :: Ricoh Source Code Public License": "RSCPL",
    "OSI Approved :: Sleepycat License": "Sleepycat",
    "OSI Approved :: Sun Industry Standards Source License (SISSL)": "SISSL",
    "OSI Approved :: Sun Public License": "SPL-1.0",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: Universal Permissive License (UPL)": "UPL-1.0",
    "OSI Approved :: University of Illinois/NCSA Open Source License": "NCSA",
    "OSI Approved :: Vovida Software License 1.0": "VSL-1.0",
    "OSI Approved :: W3C License": "W3C",
    "OSI Approved :: X.Net License": "Xnet",
    "OSI Approved :: zlib/libpng License": "Zlib",
}
_CLASSIFIER_PREFIX = "License :: "
# A canonical (PEP 503) name and a version made of purl's unreserved characters only.
_PLAIN_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]*")


def _text(value: str) -> str:
    # Everything written goes through the one rule set; paths and free text included.
    return redact_text(value)


def _props(values: Mapping[str, object]) -> list[dict[str, str]]:
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
        out.append({"name": _P + name, "value": _text(shown)})
    return out


def _hashes(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    out = []
    for alg, digest in pairs:
        cdx_name = _HASH_NAMES.get(alg.lower().replace("-", "_"))
        if cdx_name is None or not _HEX.fullmatch(digest):
            continue  # an algorithm CycloneDX has no name for is left out, not guessed
        out.append({"alg": cdx_name, "content": digest.lower()})
    return out


def _component(kind: str, ref: str, name: str, version: str | None = None,
               **fields: Any) -> dict[str, Any]:
    """A component with its fields in reading order; empty ones left out."""
    out: dict[str, Any] = {"type": kind, "bom-ref": ref, "name": name}
    if version:
        out["version"] = version
    out.update((k, v) for k, v in fields.items() if v)
    return out


class _Builder:
    """The parts of the document that need the sbom extra: package URLs, URI and SPDX rules."""

    def __init__(self) -> None:
        require("cyclonedx", "sbom")
        # Local imports: the sbom extra, named by require() above when it is missing.
        from cyclonedx import spdx
        from cyclonedx.exception.model import InvalidUriException
        from cyclonedx.model import XsUri
        from packageurl import PackageURL

        self.spdx = spdx
        self.XsUri = XsUri
        self.InvalidUri = InvalidUriException
        self.PackageURL = PackageURL
        self._licenses: dict[tuple[str | None, tuple[str, ...]], list[dict[str, Any]]] = {}

    def purl(self, kind: str, name: str, version: str,
             qualifiers: Mapping[str, str | None] | None = None) -> str:
        kept = {k: v for k, v in (qualifiers or {}).items() if v}
        if kind == "pypi" and not kept and _PLAIN_NAME.fullmatch(name) and _PLAIN.fullmatch(version):
            # Nothing to normalise or percent-encode: packageurl would return these characters
            # as they are (tests/unit/integrations/test_sbom.py proves it), ten times slower.
            return f"pkg:pypi/{name}@{version}"
        return str(self.PackageURL(type=kind, name=name, version=version,
                                   qualifiers=kept or None).to_string())

    def ref(self, kind: str, url: str, comment: str | None = None,
            hashes: Iterable[tuple[str, str]] = ()) -> dict[str, Any] | None:
        try:
            uri = self.XsUri(redact_url(url))
        except self.InvalidUri:  # a stray "%" or two "#": kept as a property instead
            return None
        out: dict[str, Any] = {"type": kind, "url": str(uri)}
        if comment:
            out["comment"] = comment
        if listed := _hashes(hashes):
            out["hashes"] = listed
        return out

    def licenses(self, expression: str | None, classifiers: tuple[str, ...]) -> list[dict[str, Any]]:
        """The snapshot's declared license as CycloneDX licenses, as cyclonedx-py writes them
        (docs/snapshot-format.md#licenses): one SPDX id, else one expression, else a name;
        each classifier as the SPDX id it names, else by its text. Memoised: a few dozen
        distinct values cover an environment."""
        key = (expression, classifiers)
        if key not in self._licenses:
            if expression:
                out = [self._license(expression)]
            else:
                out = []
                for c in dict.fromkeys(classifiers):
                    entry = self._license(_CLASSIFIER_SPDX.get(c.removeprefix(_CLASSIFIER_PREFIX)) or c)
                    if entry not in out:
                        out.append(entry)
            self._licenses[key] = out
        return self._licenses[key]

    def _license(self, value: str) -> dict[str, Any]:
        spdx_id = self.spdx.fixup_id(value)
        if spdx_id is not None:
            return {"license": {"id": spdx_id, "acknowledgement": _DECLARED}}
        if " :: " not in value and self.spdx.is_expression(value):
            return {"expression": value, "acknowledgement": _DECLARED}
        # The classifier's fixed "License :: " would read to the redaction rules as a
        # "license: <value>" assignment (LICENSE names secrets: NVIDIA_LICENSE_SERVER).
        rest = value.removeprefix(_CLASSIFIER_PREFIX)
        name = value[:len(value) - len(rest)] + _text(rest)
        return {"license": {"name": name, "acknowledgement": _DECLARED}}

    # -- components ----------------------------------------------------------------------------

    def python(self, pkg: Package, ref: str, lock: LockHashes | None,
               framework: Framework | None) -> dict[str, Any]:
        qualifiers: dict[str, str | None] = {}
        refs = []
        hashes: list[tuple[str, str]] = list(lock.get(pkg.name, pkg.version)) if lock else []
        src = pkg.source
        source_props: dict[str, object] = {}
        if src is not None:
            source_hash = _split_hash(src.hash)
            url = src.url or ""
            if src.kind == "vcs" and url:
                # pip's direct-reference form, which `pip install` accepts back.
                locator = src.vcs_reference(subdirectory=False) or url
                revision = src.requested_revision
                ext = self.ref("vcs", locator, comment=_text(revision) if revision else None)
                if ext is not None:
                    qualifiers["vcs_url"] = ext["url"]
            elif src.kind in ("archive", "url") and url:
                ext = self.ref("distribution", url, hashes=[source_hash] if source_hash else ())
            elif url:  # editable, dir: a local directory
                ext = self.ref("other", url, comment=f"installed from a local directory ({src.kind})")
            else:
                ext = None
            if ext is not None:
                refs.append(ext)
            elif url:
                source_props["source_url"] = redact_url(url)
            if source_hash and not hashes:
                hashes.append(source_hash)
            source_props["source"] = src.kind
            source_props["subdirectory"] = src.subdirectory
        else:
            # PyPI never serves a local version (+cu128); PyTorch's index serves its labels.
            # purl-spec: pypi's default repository is https://pypi.org, another is named by
            # the repository_url qualifier.
            qualifiers["repository_url"] = rules.pytorch_index(rules.local_label(pkg.version))
        props: dict[str, object] = {
            "installer": pkg.installer, "requested": pkg.requested or None, "owner": pkg.owner,
            **source_props,
        }
        if framework is not None:
            props.update({"built_for_cuda": framework.cuda, "variant": framework.variant,
                          "cudnn": framework.cudnn, "nccl": framework.nccl,
                          "arch_list": framework.arch_list})
        purl = self.purl("pypi", pkg.name, pkg.version, qualifiers) if any(qualifiers.values()) else ref
        return _component("library", ref, pkg.name, pkg.version,
                          licenses=self.licenses(pkg.license, pkg.license_classifiers),
                          purl=purl, hashes=_hashes(hashes), externalReferences=refs,
                          properties=_props(props))

    def conda(self, pkg: CondaPackage, ref: str) -> dict[str, Any]:
        refs = []
        if pkg.url:
            ext = self.ref("distribution", pkg.url)
            if ext is not None:
                refs.append(ext)
        hashes = [(alg, h) for alg, h in (("md5", pkg.md5), ("sha256", pkg.sha256)) if h]
        return _component("library", ref, pkg.name, pkg.version, purl=ref, hashes=_hashes(hashes),
                          externalReferences=refs,
                          properties=_props({"conda_channel": pkg.channel,
                                             "requested_spec": pkg.requested_spec,
                                             "noarch": pkg.noarch}))

    def conda_purl(self, pkg: CondaPackage) -> str:
        return self.purl("conda", pkg.name, pkg.version, {
            "build": pkg.build, "channel": _channel_name(pkg.channel), "subdir": pkg.subdir,
            "type": _conda_type(pkg.url)})


def _gpu(gpu: GPU, ref: str) -> dict[str, Any]:
    firmware = []
    if gpu.vbios:
        # A device with firmware SHOULD carry it as its own component (CycloneDX 1.6,
        # component.type "device").
        firmware.append(_component("firmware", f"{ref}:vbios", "vbios", _text(gpu.vbios)))
    return _component(
        "device", ref, _text(gpu.name), manufacturer={"name": "NVIDIA"}, components=firmware,
        properties=_props({"index": gpu.index, "compute_capability": gpu.compute_capability,
                           "memory_bytes": gpu.memory_bytes, "mig_mode": gpu.mig_mode}))


def _cuda_library(lib: LibraryCopy, ref: str) -> dict[str, Any]:
    return _component("library", ref, lib.library, _text(lib.version) if lib.version else None,
                      properties=_props({"path": lib.path, "found_via": lib.found_via,
                                         "soname": lib.soname}))


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


def _timestamp(captured_at: str) -> str | None:
    try:
        datetime.datetime.strptime(captured_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return captured_at


class _Refs:
    """bom-refs, unique within the document as CycloneDX requires: a repeat (two GPUs with
    one index in an edited snapshot) gets a suffix."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, ref: str) -> str:
        out, n = ref, 1
        while out in self.seen:
            n += 1
            out = f"{ref}#{n}"
        self.seen.add(out)
        return out


def _environment(snapshot: Snapshot, digest: str, name: str | None) -> dict[str, Any]:
    """metadata.component, what the document describes: the captured environment, named by
    ``name``, else by its project's repository, else "python-environment"; its version is the
    project's commit, else the snapshot's digest. It depends on the environment's top-level
    packages (Graph.roots: what pipdeptree lists at the top)."""
    project = snapshot.project
    remote = project.remote if project is not None else None
    if name is None and remote:
        name = remote.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git") or None
    commit = project.commit if project is not None else None
    py = snapshot.python
    component = _component(
        "application", ENVIRONMENT_REF, _text(name or "python-environment"),
        commit[:12] if commit else digest.removeprefix("sha256:")[:12],
        description="the Python environment captured by envsnap",
        properties=_props({"digest": digest,
                           "python": py.version if py is not None else None,
                           "env_kind": py.env_kind if py is not None else None,
                           "project_commit": commit}))
    return component


ENVIRONMENT_REF = "environment"


def cyclonedx_json(snapshot: Snapshot, *, lock: LockHashes | None = None,
                   name: str | None = None) -> str:
    """The CycloneDX 1.6 JSON document of a snapshot: the environment as
    ``metadata.component``; one component per Python distribution (``pkg:pypi``, PEP 610
    sources as external references, licenses as declared), per conda package (``pkg:conda``),
    the OS, the NVIDIA driver and each GPU, the CUDA toolkit and each CUDA library copy found;
    hashes from ``lock`` where it pins the package; the dependency graph of the Python
    distributions. Linear in the snapshot; the same snapshot gives the same bytes."""
    b = _Builder()
    digest = snapshot.digest  # a pass over the whole snapshot: once
    unique = _Refs()
    unique(ENVIRONMENT_REF)
    components: list[dict[str, Any]] = []
    dependencies: list[dict[str, Any]] = []
    py = snapshot.python
    graph = Graph(py)  # the dependency edges diff and check reason over, one rule
    refs: dict[str, str] = {}
    if py is not None:
        frameworks = {f.name: f for f in snapshot.frameworks}
        for pkg in py.packages:
            refs[pkg.name] = unique(b.purl("pypi", pkg.name, pkg.version))
            components.append(b.python(pkg, refs[pkg.name], lock, frameworks.get(pkg.name)))
        for pkg in py.packages:
            deps = sorted(refs[n] for n in graph.dependencies(pkg.name))
            dependencies.append({"ref": refs[pkg.name], **({"dependsOn": deps} if deps else {})})
    if snapshot.conda is not None:
        for cpkg in snapshot.conda.packages:
            components.append(b.conda(cpkg, unique(b.conda_purl(cpkg))))
    os_ = snapshot.os
    if os_ is not None:
        components.append(_component(
            "operating-system", unique("os"), _text(os_.distro_id or os_.system.lower()),
            _text(os_.distro_version) if os_.distro_version else None,
            description=_text(os_.pretty_name) if os_.pretty_name else None,
            properties=_props({"system": os_.system, "arch": os_.arch, "kernel": os_.kernel,
                               "glibc": os_.glibc, "libstdcxx": os_.libstdcxx,
                               "container": os_.container})))
    nv = snapshot.nvidia
    if nv is not None:
        if nv.driver_version or nv.kernel_module_version:
            components.append(_component(
                "device-driver", unique("nvidia-driver"), "nvidia-driver",
                _text(nv.driver_version or nv.kernel_module_version or ""),
                properties=_props({"supports_cuda": nv.cuda_driver_version,
                                   "kernel_module_version": nv.kernel_module_version,
                                   "nvml_version": nv.nvml_version})))
        components += [_gpu(g, unique(f"gpu:{g.index}")) for g in nv.gpus]
    cuda = snapshot.cuda
    if cuda is not None:
        if cuda.toolkit_version:
            # "a parallel computing platform and programming model" (NVIDIA's own description):
            # CycloneDX's platform, a runtime environment that executes software.
            components.append(_component(
                "platform", unique("cuda-toolkit"), "cuda-toolkit", _text(cuda.toolkit_version),
                properties=_props({"path": cuda.toolkit_path, "found_via": cuda.toolkit_found_via,
                                   "nvcc_version": cuda.nvcc_version})))
        components += [_cuda_library(lib, unique(f"cuda-library:{i}:{lib.library}"))
                       for i, lib in enumerate(cuda.libraries)]
    listed = {d["ref"] for d in dependencies}
    dependencies += [{"ref": c["bom-ref"]} for c in components if c["bom-ref"] not in listed]
    roots = graph.roots()
    dependencies.insert(0, {"ref": ENVIRONMENT_REF,
                            **({"dependsOn": sorted(refs[n] for n in roots)} if roots else {})})
    metadata: dict[str, Any] = {}
    stamp = _timestamp(snapshot.meta.captured_at)
    if stamp is not None:
        metadata["timestamp"] = stamp
    metadata["tools"] = {"components": [_component("application", "tool:envsnap", "envsnap",
                                                    __version__)]}
    metadata["component"] = _environment(snapshot, digest, name)
    metadata["properties"] = _props({"digest": digest,
                                     "envsnap_version": snapshot.meta.envsnap_version})
    doc = {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        # Derived from the snapshot's digest: exporting the same snapshot twice gives the same
        # document (a uuid4 would differ on every run).
        "serialNumber": uuid.uuid5(_SERIAL_NAMESPACE, digest).urn,
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    }
    return _layout(doc)


def _layout(doc: Mapping[str, Any]) -> str:
    """The document indented as usual, except that each component and each dependency is one
    line: json's C encoder writes those (with ``indent`` it falls back to pure Python, seconds
    for a large environment), and a diff of two documents shows one line per changed package."""
    lines = ["{"]
    for i, (key, value) in enumerate(doc.items()):
        end = "," if i < len(doc) - 1 else ""
        if key in ("components", "dependencies") and value:
            lines.append(f"  {json.dumps(key)}: [")
            lines.append(",\n".join("    " + json.dumps(item) for item in value))
            lines.append(f"  ]{end}")
        else:
            # json.dumps escapes every newline inside a string: these are layout only.
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
            lines.append(f"  {json.dumps(key)}: {text}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


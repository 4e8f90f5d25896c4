"""Framework builds (torch, jax, tensorflow, cupy, onnxruntime): CUDA variant and arch list."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import CommandNotFound, CommandTimeout, HostError
from ..host import Host, read_text
from ..redact import redact_text
from ..rules import cuda_from_label, cuda_of_dist, local_label
from ..snapshot import Framework, Package, PythonEnv
from . import Probed, binding
from .cuda import cudnn_version_text

# Importing torch or tensorflow takes seconds and can hang on a sick node
# (rwth-i6/returnn#1756), so --deep runs in a child with this timeout. Tests monkeypatch it.
DEEP_TIMEOUT = 60.0

# Build-description files that frameworks ship, read as text (never imported).
TORCH_VERSION_FILE = "torch/version.py"
TF_BUILD_INFO_FILE = "tensorflow/python/platform/build_info.py"
ORT_BUILD_INFO_FILE = "onnxruntime/capi/build_and_package_info.py"

_TF_DISTS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel")
_ORT_DISTS = ("onnxruntime", "onnxruntime-gpu")
_JAX_PLUGINS = ("jax-cuda13-plugin", "jax-cuda12-plugin")
_CUDNN_DISTS = ("nvidia-cudnn-cu13", "nvidia-cudnn-cu12", "nvidia-cudnn-cu11")
_NCCL_DISTS = ("nvidia-nccl-cu13", "nvidia-nccl-cu12", "nvidia-nccl-cu11")

# Prefixes the --deep child's one line of JSON; imports may print to stdout too.
_DEEP_MARKER = "ENVSNAP-DEEP "


# ---------------------------------------------------------------------------------------------
# Pure parsers


def _literal_assignments(text: str) -> dict[str, Any]:
    """Module-level ``name = <literal>`` (annotated or not) in generated build files, read
    with ``ast`` so nothing is executed. ``collections.OrderedDict([...])`` counts as its
    literal argument, which is how TensorFlow writes build_info."""
    import ast  # only when a framework build file is present

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        if isinstance(value, ast.Call) and len(value.args) == 1 and not value.keywords:
            value = value.args[0]  # OrderedDict([...]) -> [...]
        try:
            out[target.id] = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return out


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class _BuildFacts:
    cuda: str | None = None
    cudnn: str | None = None
    arch_list: tuple[str, ...] = ()
    is_cuda: bool | None = None  # None: the file does not say


def _parse_torch_version_py(text: str) -> _BuildFacts:
    """``torch/version.py`` as the wheel ships it::

        from typing import Optional

        __all__ = ['__version__', 'debug', 'cuda', 'git_version', 'hip', 'rocm', 'xpu']
        __version__ = '2.13.0+cpu'
        debug = False
        cuda: Optional[str] = None
        git_version = 'cf30153c4c131c8164ee7798e5022d810682e2cb'
        hip: Optional[str] = None
    """
    values = _literal_assignments(text)
    cuda = _opt_str(values.get("cuda"))
    return _BuildFacts(cuda=cuda, is_cuda=cuda is not None if "cuda" in values else None)


def _parse_tf_build_info(text: str) -> _BuildFacts:
    """``tensorflow/python/platform/build_info.py``, written at build time by
    tensorflow/tools/build_info/gen_build_info.py::

        import collections

        build_info = collections.OrderedDict([('cpu_compiler', '/opt/rh/devtoolset-9/root/usr/bin/gcc'), ('cuda_compute_capabilities', ['sm_52', 'sm_60', 'sm_61', 'sm_70', 'sm_75', 'sm_80', 'sm_86', 'compute_90']), ('cuda_version', '12.1'), ('cudnn_version', '8'), ('is_cuda_build', True), ('is_rocm_build', False), ('is_tensorrt_build', True)])
    """  # noqa: E501 -- the sample is the generated file's one long line
    values = _literal_assignments(text).get("build_info")
    info: Mapping[Any, Any] = {}
    if isinstance(values, list):
        info = {k: v for k, v in (p for p in values if isinstance(p, tuple) and len(p) == 2)}
    elif isinstance(values, dict):
        info = values
    is_cuda = info.get("is_cuda_build")
    caps = info.get("cuda_compute_capabilities")
    return _BuildFacts(
        cuda=_opt_str(info.get("cuda_version")) if is_cuda is not False else None,
        cudnn=_opt_str(info.get("cudnn_version")) if is_cuda is not False else None,
        arch_list=tuple(c for c in caps if isinstance(c, str)) if isinstance(caps, list) else (),
        is_cuda=is_cuda if isinstance(is_cuda, bool) else None,
    )


def _parse_ort_build_info(text: str) -> _BuildFacts:
    """``onnxruntime/capi/build_and_package_info.py``, written by onnxruntime's setup.py::

        package_name = 'onnxruntime-gpu'
        __version__ = '1.30.0'
        cuda_version = '13.0'
        cudnn_version = '9.14'

    The CPU package writes only ``package_name`` and ``__version__``.
    """
    values = _literal_assignments(text)
    cuda = _opt_str(values.get("cuda_version"))
    return _BuildFacts(
        cuda=cuda,
        cudnn=_opt_str(values.get("cudnn_version")),
        is_cuda=cuda is not None if "package_name" in values else None,
    )


def _parse_deep_output(stdout: str) -> dict[str, dict[str, Any]] | None:
    """The child's report: the last line starting with the marker, then JSON::

        ENVSNAP-DEEP {"torch": {"version": "2.13.0+cpu", "cuda": null, "cudnn": null,
                                "nccl": null, "arch_flags": null}}

    Imports may print to stdout too, hence the marker.
    """
    for line in reversed(stdout.splitlines()):
        if line.startswith(_DEEP_MARKER):
            try:
                data = json.loads(line[len(_DEEP_MARKER):])
            except ValueError:
                return None
            if isinstance(data, dict):
                return {k: v for k, v in data.items() if isinstance(v, dict)}
            return None
    return None


def _merge_deep(fw: Framework, live: Mapping[str, Any]) -> Framework:
    """Import-time facts win over file-read ones: they are what the process would load."""
    if "error" in live:
        why = redact_text(str(live["error"]))
        return replace(fw, found_via=f"{fw.found_via} (import failed: {why})")
    cuda = _opt_str(live.get("cuda"))
    # torch reports the loaded cuDNN as an int (precise); tensorflow only its build major,
    # which an installed nvidia-cudnn wheel version refines.
    cudnn = cudnn_version_text(live.get("cudnn")) or fw.cudnn or _opt_str(live.get("cudnn"))
    nccl = live.get("nccl")
    arch = live.get("arch_flags")
    return replace(
        fw,
        cuda=cuda,
        cudnn=cudnn,
        nccl=".".join(str(n) for n in nccl) if isinstance(nccl, list) and nccl else fw.nccl,
        # _cuda_getArchFlags() is "sm_50 sm_60 ... compute_90", or absent in CPU builds.
        arch_list=tuple(arch.split()) if isinstance(arch, str) else (
            tuple(a for a in arch if isinstance(a, str)) if isinstance(arch, list) else ()
        ),
        found_via="import",
    )


# ---------------------------------------------------------------------------------------------
# Reading


def _site_dirs(pyenv: PythonEnv, pkg: Package) -> list[str]:
    """Where a package's files may be: its recorded location first (relative to the prefix
    when it lies under it), then every site dir of the environment."""
    dirs = []
    if pkg.location:
        if posixpath.isabs(pkg.location):
            dirs.append(pkg.location)
        elif pyenv.prefix:
            dirs.append(posixpath.join(pyenv.prefix, pkg.location))
    dirs.extend(d for d in pyenv.site_packages if d not in dirs)
    return dirs


def _read_build_file(host: Host, pyenv: PythonEnv, pkg: Package, relpath: str) -> str | None:
    for site in _site_dirs(pyenv, pkg):
        text = read_text(host, posixpath.join(site, relpath))
        if text is not None:
            return text
    return None


def _pinned(pyenv: PythonEnv, pkgs: list[Package], candidates: tuple[str, ...]) -> str | None:
    """The installed version of an nvidia-* wheel the framework requires, if it requires one:
    that copy, not whatever else is on the machine, is the one the framework loads."""
    required = {r for p in pkgs for r in p.requires}
    for name in candidates:
        dep = pyenv.package(name)
        if name in required and dep is not None:
            return dep.version
    return None


def _torch(host: Host, pyenv: PythonEnv, pkg: Package) -> Framework:
    label = local_label(pkg.version)
    text = _read_build_file(host, pyenv, pkg, TORCH_VERSION_FILE)
    if text is not None:
        facts = _parse_torch_version_py(text)
        cuda, via = facts.cuda, f"file:{TORCH_VERSION_FILE}"
    else:
        cuda, via = cuda_from_label(label), "metadata"
    return Framework(
        name="torch",
        version=pkg.version,
        variant=label,
        cuda=cuda,
        cudnn=_pinned(pyenv, [pkg], _CUDNN_DISTS),
        nccl=_pinned(pyenv, [pkg], _NCCL_DISTS),
        found_via=via,
    )


def _tensorflow(host: Host, pyenv: PythonEnv, pkg: Package) -> Framework:
    text = _read_build_file(host, pyenv, pkg, TF_BUILD_INFO_FILE)
    facts = _parse_tf_build_info(text) if text is not None else _BuildFacts()
    return Framework(
        name="tensorflow",
        version=pkg.version,
        variant=local_label(pkg.version),
        cuda=facts.cuda,
        # tensorflow[and-cuda] pins nvidia-cudnn-cu12; the installed wheel is more precise
        # than build_info's major-only "8".
        cudnn=_pinned(pyenv, [pkg], _CUDNN_DISTS) or facts.cudnn,
        nccl=_pinned(pyenv, [pkg], _NCCL_DISTS),
        arch_list=facts.arch_list,
        found_via=f"file:{TF_BUILD_INFO_FILE}" if text is not None else "metadata",
    )


def _onnxruntime(host: Host, pyenv: PythonEnv, pkg: Package) -> Framework:
    text = _read_build_file(host, pyenv, pkg, ORT_BUILD_INFO_FILE)
    facts = _parse_ort_build_info(text) if text is not None else _BuildFacts()
    return Framework(
        name=pkg.name,  # onnxruntime and onnxruntime-gpu overwrite each other's files
        version=pkg.version,
        variant=local_label(pkg.version),
        cuda=facts.cuda,
        cudnn=facts.cudnn or _pinned(pyenv, [pkg], _CUDNN_DISTS),
        found_via=f"file:{ORT_BUILD_INFO_FILE}" if text is not None else "metadata",
    )


def _jax(pyenv: PythonEnv, pkg: Package) -> Framework:
    # CUDA jax ships as a plugin wheel named for the CUDA major (jax-cuda12-plugin); jaxlib
    # before 0.4.26 carried it in its local label instead (0.4.23+cuda12.cudnn89).
    plugin = next((p for p in map(pyenv.package, _JAX_PLUGINS) if p is not None), None)
    jaxlib = pyenv.package("jaxlib")
    label = local_label(jaxlib.version) if jaxlib is not None else None
    if plugin is not None:
        variant: str | None = plugin.name.removeprefix("jax-").removesuffix("-plugin")
        cuda = cuda_of_dist(plugin.name)
    else:
        variant, cuda = label, cuda_from_label(label)
    related = [p for p in (pkg, jaxlib, plugin) if p is not None]
    return Framework(
        name=pkg.name,
        version=pkg.version,
        variant=variant,
        cuda=cuda,
        cudnn=_pinned(pyenv, related, _CUDNN_DISTS),
        nccl=_pinned(pyenv, related, _NCCL_DISTS),
        found_via="metadata",
    )


def _cupy(pyenv: PythonEnv, pkg: Package) -> Framework:
    return Framework(
        name="cupy",
        version=pkg.version,
        variant=pkg.name.removeprefix("cupy-") if pkg.name != "cupy" else None,
        cuda=cuda_of_dist(pkg.name),
        found_via="metadata",
    )


def _from_files(host: Host, pyenv: PythonEnv) -> list[Framework]:
    found: list[Framework] = []
    for pkg in pyenv.packages:
        name = pkg.name
        if name == "torch":
            found.append(_torch(host, pyenv, pkg))
        elif name in _TF_DISTS:
            found.append(_tensorflow(host, pyenv, pkg))
        elif name in _ORT_DISTS:
            found.append(_onnxruntime(host, pyenv, pkg))
        elif name in ("jax", "jaxlib"):
            found.append(_jax(pyenv, pkg))
        elif name == "cupy" or (name.startswith("cupy-") and "cuda" in name):
            found.append(_cupy(pyenv, pkg))
    return found


# ---------------------------------------------------------------------------------------------
# --deep: import in a child process

# Each framework is checked in a child of its own, so one broken import does not hide the
# others and no framework's libraries change what another binds. torch._C._cuda_getArchFlags()
# answers without a GPU, where torch.cuda.get_arch_list() returns [] when no device is visible.
# CUDA_VISIBLE_DEVICES="" keeps the child off the GPUs: nothing here needs one, and device init
# is what hangs on sick nodes.
#
# After the import (or the loads by path, for a framework without a modelled import), the
# child asks its own loader which object answers to each predicted SONAME: dlopen(name,
# RTLD_NOLOAD) finds a loaded object exactly as a DT_NEEDED of that name would
# (glibc's _dl_lookup_map), and dlinfo(RTLD_DI_LINKMAP) names its file.
_DEEP_SCRIPT = """
import ctypes, json, os, sys
spec = json.loads(sys.argv[1])
name = spec["name"]
out = {}
def opt(fn):
    try:
        return fn()
    except Exception:
        return None
def torch_facts():
    import torch
    nccl = opt(lambda: torch.cuda.nccl.version())
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": opt(lambda: torch.backends.cudnn.version()),
        "nccl": list(nccl) if isinstance(nccl, tuple) else nccl,
        "arch_flags": opt(lambda: torch._C._cuda_getArchFlags()),
    }
def tf_facts():
    import tensorflow as tf
    info = dict(tf.sysconfig.get_build_info())
    return {
        "version": tf.__version__,
        "cuda": info.get("cuda_version") if info.get("is_cuda_build") else None,
        "cudnn": info.get("cudnn_version") if info.get("is_cuda_build") else None,
        "arch_flags": list(info.get("cuda_compute_capabilities") or []),
    }
try:
    if name == "torch":
        out[name] = torch_facts()
    elif name == "tensorflow":
        out[name] = tf_facts()
    for path in spec.get("loads", []):
        ctypes.CDLL(path)
except BaseException as exc:
    out[name] = {"error": type(exc).__name__ + ": " + str(exc)[:200]}
class LinkMap(ctypes.Structure):
    _fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p)]
def bound(soname, dlinfo):
    try:
        lib = ctypes.CDLL(soname, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
        return None
    lm = ctypes.POINTER(LinkMap)()
    if dlinfo(ctypes.c_void_p(lib._handle), 2, ctypes.byref(lm)) != 0:
        return ""
    return lm.contents.l_name.decode("utf-8", "surrogateescape")
if spec.get("sonames"):
    try:
        dlinfo = ctypes.CDLL("libdl.so.2").dlinfo
        out["loader"] = {"bound": dict((s, bound(s, dlinfo)) for s in spec["sonames"])}
    except (OSError, AttributeError) as exc:
        out["loader"] = {"error": str(exc)[:200]}
print("@MARKER@" + json.dumps(out))
""".replace("@MARKER@", _DEEP_MARKER)

_DEEP_FRAMEWORKS = ("torch", "tensorflow")


def _verify(host: Host, fw: Framework, loader: Mapping[str, Any]) -> Framework:
    """Each binding marked with what the child's loader bound: ``verified`` when it is the
    predicted file, else the file it did bind in ``loaded`` (none: nothing answers to it)."""
    bound = loader.get("bound")
    if not isinstance(bound, Mapping):
        why = redact_text(str(loader.get("error") or "no answer"))
        return replace(fw, bindings_via=f"{fw.bindings_via} (--deep check failed: {why})")
    out = []
    for b in fw.bindings:
        actual = bound.get(b.soname)
        if actual == "":  # loaded, but its file could not be named
            out.append(b)
            continue
        real = host.realpath(actual) if isinstance(actual, str) else None
        if real == b.path:
            out.append(replace(b, verified=True))
        else:
            out.append(replace(b, verified=False, loaded=real))
    return replace(fw, bindings=tuple(out))


def _deep_one(host: Host, python: str, fw: Framework,
              loads: tuple[str, ...]) -> tuple[Framework, str | None]:
    """One framework checked in a child: its import facts and what its loader bound."""
    spec = {"name": fw.name, "loads": list(loads), "sonames": [b.soname for b in fw.bindings]}
    env = {**host.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        result = host.run([python, "-c", _DEEP_SCRIPT, json.dumps(spec)], timeout=DEEP_TIMEOUT,
                          env=env)
    except CommandTimeout:
        return fw, f"import timed out after {DEEP_TIMEOUT:g}s"
    except CommandNotFound:
        return fw, f"{python} not found"
    except HostError as exc:
        return fw, str(exc)
    report = _parse_deep_output(result.stdout) if result.returncode == 0 else None
    if report is None:
        said = result.stderr.strip().splitlines()[-1:] or ["no report"]
        return fw, f"import child exited with {result.returncode}: {said[0][:200]}"
    live = report.get(fw.name)
    if fw.name in _DEEP_FRAMEWORKS and live is not None:
        fw = _merge_deep(fw, live)
    elif live is not None and "error" in live:
        fw = replace(fw, bindings_via=f"{fw.bindings_via} (--deep load failed: "
                                      f"{redact_text(str(live['error']))})")
    if fw.bindings and "loader" in report:
        fw = _verify(host, fw, report["loader"])
    return fw, None


def _deep(host: Host, python: str, frameworks: list[Framework],
          loads: Mapping[str, tuple[str, ...]]) -> tuple[list[Framework], str | None]:
    """Frameworks updated from a child each, or unchanged plus why a child failed."""
    out, failures = [], []
    for fw in frameworks:
        if fw.name not in _DEEP_FRAMEWORKS and not fw.bindings:
            out.append(fw)
            continue
        checked, why = _deep_one(host, python, fw, loads.get(fw.name, ()))
        if why is not None:
            failures.append(why)
            checked = replace(checked, found_via=f"{checked.found_via} (import failed: {why})")
        out.append(checked)
    return out, "; ".join(failures) or None


def probe(
    host: Host, pyenv: PythonEnv | None, *, deep: bool, python: str | None,
    loader: binding.LoaderSurvey | None = None,
) -> Probed[tuple[Framework, ...]]:
    """Framework builds read from files, with the copy of each CUDA library they bind (from
    their ELF files and the loader's rules); with ``deep``, confirmed by importing in
    ``python``. ``loader`` is the machine's search inputs (read here when not given)."""
    if pyenv is None:
        return Probed(value=(), found_via="no Python environment to read")
    frameworks = _from_files(host, pyenv)
    resolved = binding.resolve(host, pyenv, loader or binding.survey(host, python))
    frameworks = binding.attach(frameworks, resolved, pyenv)
    via = "package metadata and build files"
    if resolved:
        via += f"; bindings of {', '.join(sorted(resolved))} from ELF files"
    if deep and frameworks:
        if python is None:
            via += " (--deep skipped: no target interpreter)"
        else:
            loads = {name: res.loads for name, res in resolved.items()}
            frameworks, why = _deep(host, python, frameworks, loads)
            if why is not None:
                via += f" (--deep failed: {why})"
            else:
                via = via.replace("package metadata and build files",
                                  "import (--deep) and build files", 1)
    return Probed(value=tuple(frameworks), found_via=via)

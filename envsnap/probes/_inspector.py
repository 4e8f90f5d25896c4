"""Runs INSIDE the target interpreter: stdlib only, imports none of the user's packages.

It prints one Python literal with the facts only that interpreter can report: version, ABI and
platform tags, prefixes, sys.path and its PEP 508 marker environment. envsnap reads the
dist-info files on that path itself. Kept compatible with old interpreters (no walrus, no
match, no f-strings) because ``envsnap capture --python`` may point at any Python 3 in use.
"""

import os
import platform
import stat
import sys
import sysconfig


def _abi_tag():
    impl = sys.implementation.name
    if impl == "cpython":
        flags = getattr(sys, "abiflags", "")
        if sysconfig.get_config_var("Py_GIL_DISABLED") and "t" not in flags:
            flags += "t"
        return "cp%d%d%s" % (sys.version_info[0], sys.version_info[1], flags)
    return (sys.implementation.cache_tag or impl).replace("-", "_")


def _full_version(info):
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version


def marker_environment():
    """PEP 508's marker variables for this interpreter, computed as the specification (and
    packaging.markers.default_environment) does: https://peps.python.org/pep-0508/#environment-markers
    packaging itself may not be installed in the target."""
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": _full_version(sys.implementation.version),
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def metadata_entries(path):
    """For each sys.path entry, the metadata folders importlib.metadata sees there, in the order
    it sees them (its FastPath.children): os.listdir's order for a folder, the top-level names of
    a zip file (a zipped egg, a zip on sys.path). Listed here, in the target, because that order
    decides which of two copies of a package importlib.metadata and pip report."""
    out = []
    seen = set()
    for entry in path:
        if not entry or entry in seen:
            continue
        seen.add(entry)
        base_is_egg = os.path.basename(entry.rstrip("/")).lower().endswith(".egg")
        kind = "dir"
        try:
            names = os.listdir(entry)
        except Exception:
            kind = "zip"
            try:
                # Only a regular file can be a zip: opening a FIFO would block the capture
                # (zipimport, which the interpreter itself uses, checks the same).
                if not stat.S_ISREG(os.stat(entry).st_mode):
                    continue
                # Here only: a zip on sys.path is rare, and this runs in the target's start-up.
                import zipfile

                with zipfile.ZipFile(entry) as archive:
                    names = []
                    for member in archive.namelist():
                        top = member.split("/", 1)[0]
                        if top not in names:
                            names.append(top)
            except Exception:
                continue
        keep = [n for n in names if n.lower().endswith((".dist-info", ".egg-info"))
                or (base_is_egg and n.lower() == "egg-info")]
        out.append([entry, kind, keep])
    return out


def facts(path):
    """The interpreter's own facts (``path``: its sys.path minus its script dir)."""
    site_dirs = []
    paths = sysconfig.get_paths()
    for scheme_key in ("purelib", "platlib"):
        p = paths.get(scheme_key)
        if p and p not in site_dirs:
            site_dirs.append(p)
    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "abi_tag": _abi_tag(),
        "platform_tag": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
        "site_packages": site_dirs,
        "sys_path": path,
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "markers": marker_environment(),
        "metadata_entries": metadata_entries(path),
    }


MARKER = "@ENVSNAP-FACTS@"


def main():
    # This script's own folder (envsnap's package) is not part of the target environment. It
    # is removed by value: with PYTHONSAFEPATH (or -P) it is not on sys.path at all.
    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    # After a marker on a line of its own: a .pth file or sitecustomize may print first.
    sys.stdout.write("\n" + MARKER + "\n" + repr(facts(path)))


if __name__ == "__main__":
    main()

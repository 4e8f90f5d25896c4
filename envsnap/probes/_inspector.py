"""Runs INSIDE the target interpreter: stdlib only, imports none of the user's packages.

It prints one Python literal describing the interpreter and (without --facts) every
dist-info / egg-info on its sys.path, raw; the envsnap process does all parsing,
canonicalisation and redaction. Kept compatible with old interpreters (no walrus, no match,
no f-string '=' specifiers) because ``envsnap capture --python`` may point at any Python 3
still in use.
"""

import os
import sys
import sysconfig

# Neither json nor re is imported at module level: together they double the start-up of the
# interpreter asked for --facts (which needs neither). The output is a Python literal (repr),
# read back with ast.literal_eval, which evaluates literals only; re is imported by the scan.

# The three headers envsnap reads, each with any folded continuation lines (which start with
# a space or tab). A regex over the header block runs in C, where a Python loop over every
# line (Classifier: lines are most of them) was a third of the scan. The pattern has no
# ambiguous repetition, so a crafted line (a value padded with 100,000 spaces) costs linear
# time; re.ASCII keeps Unicode case folding from reading "Ver\u017fion" as "version".
# The header block ends at the first line holding only whitespace; the body (the long
# description, often most of the file) is never needed.
_PATTERNS = []


def _patterns():
    if not _PATTERNS:
        import re

        _PATTERNS.append(re.compile(r"^(name|version|requires-dist)[ \t]*:(.*(?:\n[ \t].*)*)",
                                    re.ASCII | re.IGNORECASE | re.MULTILINE))
        _PATTERNS.append(re.compile(r"(?:\A|\n)[^\S\n]*\n"))
    return _PATTERNS


def _headers(text):
    """name/version (first occurrence, folded lines joined) and every requires-dist of
    RFC 822-style metadata, values stripped as str.strip() does."""
    header, blank_line = _patterns()
    end = blank_line.search(text)
    out = {}
    for key, value in header.findall(text[:end.start()] if end else text):
        key = key.lower()
        lines = value.split("\n")
        if key == "requires-dist":
            out.setdefault(key, []).append(lines[0].strip())  # one requirement per header
        elif key not in out:
            out[key] = " ".join(line.strip() for line in lines)
    return out


def _read(path):
    # os.open/os.read rather than open(): no buffered file object per file, which halves
    # the cost of reading ~3 small files for each of hundreds of distributions.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))  # no CRLF mangling on Windows
    except (OSError, IOError):
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    except (OSError, IOError):
        return None
    finally:
        os.close(fd)


def _native_from_record(record):
    # Compiled extension modules: *.so (also versioned, *.so.1), *.pyd, *.dylib
    for line in record.split(b"\n"):
        path = line.split(b",", 1)[0]
        if path.endswith((b".so", b".pyd", b".dylib")) or b".so." in path.rsplit(b"/", 1)[-1]:
            return True
    return False


def _dist(entry, name):
    path = os.path.join(entry, name)
    inside = path + os.sep  # concatenation: five os.path.join calls per dist add up over hundreds
    info = {"dir": entry, "entry": name}
    if name.endswith(".dist-info"):
        meta_path = inside + "METADATA"
        info["format"] = "dist-info"
    elif os.path.isdir(path):
        meta_path = inside + "PKG-INFO"
        info["format"] = "egg-info"
    else:
        meta_path = path  # a single-file .egg-info is the PKG-INFO itself
        info["format"] = "egg-info"
    raw = _read(meta_path)
    if raw is None:
        info["error"] = "no-metadata"
        return info
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        info["error"] = "undecodable"
        info["detail"] = "METADATA is not UTF-8 (byte %d)" % exc.start
        return info
    info["metadata"] = _headers(text)
    if info["format"] != "dist-info":
        return info
    # The files pip always writes are simply read (a missing one reads as None); the optional
    # ones are tested with access(), which costs no exception when they are absent, as they
    # mostly are. Cheaper than listing each dist-info directory.
    installer = _read(inside + "INSTALLER")
    if installer is not None:
        info["installer"] = installer.decode("utf-8", "replace").strip().split("\n")[0]
    info["requested"] = os.access(inside + "REQUESTED", os.F_OK)
    direct = (_read(inside + "direct_url.json")
              if os.access(inside + "direct_url.json", os.F_OK) else None)
    if direct is not None:
        info["direct_url"] = direct.decode("utf-8", "replace")
    wheel = _read(inside + "WHEEL")
    tags = []
    if wheel is not None:
        for line in wheel.decode("utf-8", "replace").split("\n"):
            if line.startswith("Tag:"):
                tags.append(line[4:].strip())
    info["tags"] = tags
    if tags:
        info["native"] = any(not t.endswith("-any") for t in tags)
    else:
        # No WHEEL (conda builds, setup.py installs): fall back to the file list.
        record = _read(inside + "RECORD")
        info["native"] = bool(record) and _native_from_record(record)
    return info


def _abi_tag():
    impl = sys.implementation.name
    if impl == "cpython":
        flags = getattr(sys, "abiflags", "")
        if sysconfig.get_config_var("Py_GIL_DISABLED") and "t" not in flags:
            flags += "t"
        return "cp%d%d%s" % (sys.version_info[0], sys.version_info[1], flags)
    return (sys.implementation.cache_tag or impl).replace("-", "_")


def scan(path):
    """Every dist-info / egg-info on ``path`` (a sys.path), in path order. Reads plain files
    only, so envsnap can run it itself on another interpreter's path (see host.py)."""
    dists = []
    seen_dirs = set()
    for entry in path:
        entry = entry or os.getcwd()
        key = os.path.normcase(os.path.abspath(entry))
        if key in seen_dirs:
            continue
        seen_dirs.add(key)
        try:
            names = sorted(os.listdir(entry))
        except (OSError, IOError):
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                dists.append(_dist(entry, name))
    return dists


def facts(path):
    """The interpreter's own facts, which only it can report (``path``: its sys.path minus
    its script dir)."""
    site_dirs = []
    paths = sysconfig.get_paths()
    for scheme_key in ("purelib", "platlib"):
        p = paths.get(scheme_key)
        if p and p not in site_dirs:
            site_dirs.append(p)
    return {
        # what platform.python_version() returns ("3.11.7", "3.13.0rc1"), without importing it
        "version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "abi_tag": _abi_tag(),
        "platform_tag": sysconfig.get_platform().replace("-", "_").replace(".", "_"),
        "site_packages": site_dirs,
        "sys_path": path,
        "conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
    }


def inspect(path):
    """The interpreter's facts and every dist on ``path``."""
    doc = facts(path)
    doc["dists"] = scan(path)
    return doc


def main():
    # sys.path[0] is this script's folder (envsnap's own package): not part of the target env.
    path = sys.path[1:]
    # --facts: the interpreter's facts only; envsnap then scans the path itself, instead of
    # having this interpreter serialise every dist-info for it to parse again.
    doc = facts(path) if sys.argv[1:] == ["--facts"] else inspect(path)
    sys.stdout.write(repr(doc))


if __name__ == "__main__":
    main()

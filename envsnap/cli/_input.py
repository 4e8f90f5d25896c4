"""The snapshots a command names: files, '-' (standard input) and MLflow URIs (runs:/, models:/)."""

from __future__ import annotations

import gc
from pathlib import Path

from ..errors import BadInputError
from ..io import load
from ..snapshot import PackageMemo, Snapshot

# Logged with an MLflow run or model (envsnap[mlflow]); resolved here, at the command line's
# edge: the library's io.load reads files only.
MLFLOW_SCHEMES = ("runs:/", "models:/")


def read(name: str, memo: PackageMemo | None = None) -> Snapshot:
    """The snapshot ``name`` names; errors name it, in one line (exit 2)."""
    if name.startswith(MLFLOW_SCHEMES):
        # Local import: the optional extra's module, imported only when a URI is given.
        from ..integrations.mlflow import load_uri

        snapshot = load_uri(name)
    else:
        snapshot = load(name, memo=memo)
    keep()
    return snapshot


def keep() -> None:
    """What a command has read stays until it exits, and holds no cycle: the collector leaves
    it out of its passes from now on (gc.freeze). Reading paused the collector (see
    io.collector_paused), so otherwise its next passes would walk every object read through
    each generation, for nothing: a tenth of `envsnap diff` of two 150,000-package snapshots
    (benchmarks/README.md). Objects dropped later are still freed, by their reference counts."""
    gc.freeze()


def one_stdin(names: list[str]) -> None:
    """Standard input can be read once: refuse a second '-' before reading the first."""
    if sum(1 for n in names if n == "-") > 1:
        raise BadInputError("standard input ('-') can be read only once: give the other "
                            "snapshots as files")


def expand(names: list[str]) -> list[str]:
    """Snapshots as given; directories become their *.toml and *.json files, sorted."""
    out: list[str] = []
    for raw in names:
        p = Path(raw)
        if raw != "-" and not raw.startswith(MLFLOW_SCHEMES) and p.is_dir():
            found = sorted(x for x in p.iterdir()
                           if x.suffix in (".toml", ".json") and x.is_file())
            if not found:
                raise BadInputError(f"{p}: directory holds no *.toml or *.json snapshots")
            out.extend(str(x) for x in found)
        else:
            out.append(raw if raw.startswith(MLFLOW_SCHEMES) else str(p))
    return out

"""'envsnap fleet': capture every node of a cluster, then report which nodes will break a job."""

from __future__ import annotations

import argparse
from typing import Any

from . import fleet_capture, fleet_report

FLEET_HELP = """\
Snapshots of a whole cluster, and the nodes that will break a multi-node job.

  envsnap fleet capture --ray [ADDRESS] -o snaps/     one snapshot per alive Ray node
  envsnap fleet report snaps/                          the majority configuration is the
                                                       reference; odd nodes grouped
  envsnap fleet report snaps/ --baseline golden.toml   against a golden snapshot

Schedulers without a Python API (Slurm, Kubernetes) capture with one line of their own:
  srun --ntasks-per-node=1 envsnap capture -o snaps/{hostname}.toml
then 'envsnap fleet report snaps/'. docs/fleet.md has a tested sbatch script and Kubernetes
manifests.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "fleet",
        help="capture a cluster's nodes and report the ones that drifted",
        description=FLEET_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fleet_sub = p.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", required=True,
                                 prog="envsnap fleet")
    fleet_capture.register(fleet_sub)
    fleet_report.register(fleet_sub)

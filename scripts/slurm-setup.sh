#!/usr/bin/env bash
# slurm-setup.sh - a real Slurm cluster on this one machine, for the fleet tests
# (tests/integration/test_fleet_slurm.py runs the sbatch script of docs/fleet.md on it).
#
# What it does (every step is skipped when already done, so it is idempotent):
#   1. installs munge, slurmctld, slurmd and slurm-client with apt-get when missing;
#   2. starts munged when `munge -n | unmunge` fails;
#   3. gives every compute node but the first its own network and UTS namespace
#      (`ip netns`, a veth pair on a host bridge, `unshare --uts`), so each slurmd has its own address and
#      its own host name: a job sees N hosts with N names, as on a real cluster; the file
#      system is shared, as a cluster's shared home or scratch is;
#   4. writes /etc/slurm/slurm.conf (marked as ours; a configuration someone else wrote is
#      never replaced) and starts slurmctld and one slurmd per node;
#   5. waits until `sinfo` shows every node idle.
#
# Nodes: the first is this machine under its own host name (address <subnet>.1); node k>1 is
# esnode<k> (address <subnet>.k). Without network namespaces (a container without
# CAP_NET_ADMIN) it falls back to the one node.
#
# Environment knobs (all optional):
#   ENVSNAP_SLURM_NODES    compute nodes (default 2)
#   ENVSNAP_SLURM_SUBNET   first three octets of the node addresses (default 10.77.0)
#   ENVSNAP_SLURM_LOG_DIR  daemon logs (default /var/log/slurm)
#
# Must run as root (apt-get, namespaces and the daemons need it).
#
# Notes from running this in the CI sandbox (Firecracker VM, Debian bookworm, Slurm 22.05.8,
# munge 0.5.15, no systemd, cgroup v1):
#   * proctrack/linuxproc and task/none need no cgroup set-up; slurmd still initialises its
#     cgroup plugin, so a node's slurmd must see the host's /sys: `ip netns exec` mounts a
#     fresh sysfs without /sys/fs/cgroup ("Unable to initialize cgroup plugin"), so the
#     namespaced slurmd is started with `nsenter --net=/run/netns/NAME` instead.
#   * srun's I/O connections go from each slurmd back to the address srun was reached from,
#     so steps spanning the namespaced nodes work with no extra configuration.
#   * Docker sets iptables' FORWARD policy to DROP and br_netfilter makes bridged frames pass
#     it: node-to-node connections failed ("Communication connection failure" from srun) until
#     the script accepted esbr0-to-esbr0 forwarding.
#   * slurmd logs "MPI: Cannot create context for mpi/pmix_v4" at start; harmless (MpiDefault=none).
set -euo pipefail

SETUP_NAME=slurm-setup
# shellcheck source=scripts/setup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-lib.sh"  # log, die, apt_install

START_TS=$(date +%s)
NODES=${ENVSNAP_SLURM_NODES:-2}
SUBNET=${ENVSNAP_SLURM_SUBNET:-10.77.0}
LOG_DIR=${ENVSNAP_SLURM_LOG_DIR:-/var/log/slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by envsnap scripts/slurm-setup.sh"
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd

[ "$(id -u)" -eq 0 ] || die "must run as root (needs apt-get, network namespaces and the Slurm daemons)"
[[ "$NODES" =~ ^[1-9][0-9]?$ ]] || die "ENVSNAP_SLURM_NODES must be 1..99, not '$NODES'"

# ---------------------------------------------------------------- helpers ---
APT_OPTS=(--no-install-recommends)  # the daemons alone, not their recommended extras

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

# pid_alive PIDFILE : the process named in PIDFILE runs.
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop PIDFILE : stop the daemon we started (by its pid file only).
stop_pidfile() {
    local pid
    pid_alive "$1" || return 0
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}

node_name() { if [ "$1" -eq 1 ]; then hostname; else printf 'esnode%s' "$1"; fi; }
netns_name() { printf 'esnode%s' "$1"; }

# ------------------------------------------------------------ 1. install ---
pkgs=()
command -v munged >/dev/null 2>&1 || pkgs+=(munge)
command -v slurmctld >/dev/null 2>&1 || pkgs+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || pkgs+=(slurmd)
command -v sbatch >/dev/null 2>&1 || pkgs+=(slurm-client)
command -v ip >/dev/null 2>&1 || pkgs+=(iproute2)
if [ "${#pkgs[@]}" -gt 0 ]; then
    apt_install "${pkgs[@]}"
fi
log "slurm: $(slurmd -V 2>/dev/null), munge: $(munged -V 2>/dev/null | head -n 1)"

# ------------------------------------------------------------- 2. munge ---
if munge_ok; then
    log "munged already answering"
else
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 20); do munge_ok && break; sleep 0.5; done
    munge_ok || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------- 3. namespaces ---
# One bridge (esbr0, $SUBNET.1/24 on the host side) joins every node's veth, so nodes reach
# each other and the controller as on one LAN, with no forwarding on the host.
ensure_bridge() {
    if ! ip link show esbr0 >/dev/null 2>&1; then
        ip link add esbr0 type bridge || return 1
    fi
    ip addr replace "$SUBNET.1/24" dev esbr0
    ip link set esbr0 up
    # With br_netfilter loaded, bridged frames pass iptables' FORWARD chain, whose policy
    # Docker sets to DROP: node-to-node traffic would vanish without this rule.
    if command -v iptables >/dev/null 2>&1 && \
            ! iptables -C FORWARD -i esbr0 -o esbr0 -j ACCEPT 2>/dev/null; then
        iptables -I FORWARD -i esbr0 -o esbr0 -j ACCEPT
    fi
}

ensure_node_netns() {
    local k=$1 ns host_if node_if
    ns=$(netns_name "$k")
    host_if="es${k}h"
    node_if="es${k}n"
    if [ ! -e "/run/netns/$ns" ]; then
        ip netns add "$ns" || return 1
    fi
    if ! ip link show "$host_if" >/dev/null 2>&1; then
        ip link add "$host_if" type veth peer name "$node_if" || return 1
        ip link set "$node_if" netns "$ns" || return 1
    fi
    ip link set "$host_if" master esbr0
    ip link set "$host_if" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "$SUBNET.$k/24" dev "$node_if"
    ip -n "$ns" link set "$node_if" up
}

if [ "$NODES" -gt 1 ]; then
    for k in $(seq 2 "$NODES"); do
        if ! { ensure_bridge && ensure_node_netns "$k"; } 2>/dev/null; then
            log "no network namespaces here (ip netns add / veth failed); falling back to one node"
            NODES=1
            break
        fi
    done
fi

# ---------------------------------------------------------------- 4. config ---
if [ "$NODES" -gt 1 ]; then
    CTLD_ADDR=$SUBNET.1
else
    CTLD_ADDR=127.0.0.1
fi
CPUS=$(nproc)
node_lines=""
for k in $(seq 1 "$NODES"); do
    if [ "$NODES" -gt 1 ]; then addr=$SUBNET.$k; else addr=$CTLD_ADDR; fi
    node_lines+="NodeName=$(node_name "$k") NodeAddr=$addr CPUs=$CPUS State=UNKNOWN"$'\n'
done
conf_text="$MARK
ClusterName=envsnap
SlurmctldHost=$(hostname)($CTLD_ADDR)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd-%n.log
# No cgroups: the tasks are tracked by their parent pids, not confined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
${node_lines}PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"

restart=0
if [ -f "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
    if sinfo -h >/dev/null 2>&1; then
        log "$CONF was not written by this script and its cluster answers; using it as it is"
        sinfo
        exit 0
    fi
    die "$CONF was not written by this script; move it away to let this script write its own"
fi
if [ "$(cat "$CONF" 2>/dev/null)" != "$conf_text" ]; then
    log "writing $CONF ($NODES node(s))"
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$conf_text" >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
    restart=1
fi
mkdir -p "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"

# --------------------------------------------------------------- 5. daemons ---
# Every slurmd this config names (also those of an earlier, larger config).
daemon_pidfiles() { ls /run/slurmd-*.pid 2>/dev/null || true; echo /run/slurmctld.pid; }
if [ "$restart" -eq 1 ]; then
    for f in $(daemon_pidfiles); do stop_pidfile "$f"; done
fi

if pid_alive /run/slurmctld.pid && scontrol ping >/dev/null 2>&1; then
    log "slurmctld already running"
else
    log "starting slurmctld (log: $LOG_DIR/slurmctld.log)"
    slurmctld
    for _ in $(seq 1 30); do scontrol ping >/dev/null 2>&1 && break; sleep 0.5; done
    scontrol ping >/dev/null 2>&1 || { tail -n 20 "$LOG_DIR/slurmctld.log" >&2; die "slurmctld does not answer"; }
fi

for k in $(seq 1 "$NODES"); do
    name=$(node_name "$k")
    if pid_alive "/run/slurmd-$name.pid"; then
        log "slurmd $name already running"
        continue
    fi
    log "starting slurmd $name (log: $LOG_DIR/slurmd-$name.log)"
    if [ "$k" -eq 1 ]; then
        slurmd
    else
        # Own network and UTS namespace, so this node has its own address and host name.
        nsenter --net="/run/netns/$(netns_name "$k")" \
            unshare --uts sh -c 'hostname "$1" && exec slurmd' sh "$name"
    fi
done

# ------------------------------------------------------------- 6. wait ---
want=$NODES
for _ in $(seq 1 60); do
    idle=$(sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l)
    [ "$idle" -ge "$want" ] && break
    # A node left down or drained by an earlier run comes back.
    for name in $(sinfo -h -N -t down,drain -o '%N' 2>/dev/null | sort -u); do
        scontrol update NodeName="$name" State=RESUME >/dev/null 2>&1 || true
    done
    sleep 1
done
sinfo -N
[ "$idle" -ge "$want" ] || die "only $idle of $want node(s) idle after 60s (logs: $LOG_DIR)"
log "cluster up: $want node(s) idle; done in $(( $(date +%s) - START_TS ))s"

# Sourced by scripts/docker-setup.sh and scripts/slurm-setup.sh: their log lines and one
# `apt-get install` that runs `apt-get update` at most once per script. The caller sets
# SETUP_NAME (the log prefix) before sourcing, and may set APT_OPTS (an array of extra
# `apt-get install` options) before calling apt_install.

log() { printf '%s: %s\n' "$SETUP_NAME" "$*"; }
die() { printf '%s: ERROR: %s\n' "$SETUP_NAME" "$*" >&2; exit 1; }

APT_UPDATED=0
APT_LOG=${TMPDIR:-/tmp}/envsnap-$SETUP_NAME-apt.log
APT_OPTS=()
apt_install() {
    # apt_install PKG... : install packages, running `apt-get update` at most once.
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        if ! apt-get update -q >"$APT_LOG" 2>&1; then
            tail -n 30 "$APT_LOG" >&2
            die "apt-get update failed"
        fi
        APT_UPDATED=1
    fi
    log "apt-get install -y $* (log: $APT_LOG)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${APT_OPTS[@]}" "$@" \
            >"$APT_LOG" 2>&1; then
        tail -n 30 "$APT_LOG" >&2
        die "apt-get install $* failed"
    fi
}

#!/usr/bin/env bash
# docker-setup.sh - prepare a local Docker engine and the envsnap CI base image
# on a machine that cannot reach Docker Hub (only PyPI + a Debian mirror).
#
# What it does (every step is skipped when already done, so it is idempotent):
#   1. installs docker.io (+ debootstrap) with apt-get when dockerd is missing;
#   2. starts dockerd in the background when `docker info` fails, choosing a
#      storage driver that really works here (overlay2 is probed with a real
#      overlay mount; falls back to fuse-overlayfs, then vfs);
#   3. builds the image envsnap-base:bookworm from a debootstrap rootfs
#      (minbase + python3, python3-venv, python3-pip, ca-certificates) taken
#      from the same Debian mirror apt uses on this machine; the rootfs tarball
#      is cached so later runs on the same machine only need `docker import`;
#   4. verifies the image with a network-less `docker run`.
#
# Environment knobs (all optional):
#   ENVSNAP_BASE_IMAGE            image tag            (default envsnap-base:bookworm)
#   ENVSNAP_DEBIAN_SUITE          suite to debootstrap (default bookworm)
#   ENVSNAP_DEBIAN_MIRROR         mirror URL           (default: taken from apt sources)
#   ENVSNAP_DOCKER_STORAGE_DRIVER force a dockerd storage driver (default: probed)
#   ENVSNAP_DOCKERD_FLAGS         extra flags for dockerd (word-split)
#   ENVSNAP_DOCKER_RUN_FLAGS      extra flags for the verification `docker run` (word-split)
#   ENVSNAP_DOCKERD_LOG           dockerd log file     (default /tmp/dockerd.log)
#   ENVSNAP_CI_CACHE              cache dir (default ${XDG_CACHE_HOME:-$HOME/.cache}/envsnap-ci)
#   ENVSNAP_CI_WORKDIR            scratch dir for the rootfs (default /var/tmp)
#   ENVSNAP_CI_REBUILD=1          ignore the cached rootfs tarball and existing image
#
# Must run as root (apt-get, dockerd, debootstrap all need it).
#
# Notes from running this in the CI sandbox (Firecracker VM, ext4 root,
# cgroup v1, Debian bookworm, docker.io 20.10.24):
#   * overlay2 works; no special dockerd or `docker run` flags are needed
#     (--network none/host/bridge, --memory, --pids-limit, --read-only,
#     --user all work). vfs also works (forced via ENVSNAP_DOCKER_STORAGE_DRIVER).
#   * /usr/local/bin/docker (CLI 28.x) shadows Debian's /usr/bin/docker (20.10).
#     Without the buildx plugin (not packaged for bookworm) CLI 28 falls back to
#     the legacy builder for plain `docker build` (prints a DEPRECATED notice)
#     and fails on DOCKER_BUILDKIT=1. `DOCKER_BUILDKIT=1 /usr/bin/docker build`
#     uses the daemon's built-in BuildKit and works. docker-py's
#     APIClient().build() always uses the legacy builder and works, including
#     network_mode='none'.
#   * Egress HTTPS goes through a TLS-intercepting proxy; containers do not
#     trust its CA, so networked pip/HTTPS inside containers needs
#     -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro.
#     Offline builds (--network none + a vendored wheelhouse) avoid this.
set -euo pipefail

SETUP_NAME=docker-setup
# shellcheck source=scripts/setup-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-lib.sh"  # log, die, apt_install

START_TS=$(date +%s)

IMAGE=${ENVSNAP_BASE_IMAGE:-envsnap-base:bookworm}
SUITE=${ENVSNAP_DEBIAN_SUITE:-bookworm}
INCLUDE_PKGS=python3,python3-venv,python3-pip,ca-certificates
DOCKERD_LOG=${ENVSNAP_DOCKERD_LOG:-/tmp/dockerd.log}
CACHE_DIR=${ENVSNAP_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envsnap-ci}
WORK_PARENT=${ENVSNAP_CI_WORKDIR:-/var/tmp}
ROOTFS_TAR="$CACHE_DIR/${SUITE}-rootfs.tar"
ROOTFS_META="$ROOTFS_TAR.meta"
REBUILD=${ENVSNAP_CI_REBUILD:-0}
# Bump when the rootfs recipe below changes, so cached tarballs are rebuilt.
ROOTFS_RECIPE=2
read -r -a DOCKERD_EXTRA <<<"${ENVSNAP_DOCKERD_FLAGS:-}"
read -r -a RUN_EXTRA <<<"${ENVSNAP_DOCKER_RUN_FLAGS:-}"

[ "$(id -u)" -eq 0 ] || die "must run as root (needs apt-get, dockerd and debootstrap)"

# ---------------------------------------------------------------- helpers ---

engine_up() { docker info >/dev/null 2>&1; }

image_exists() { docker image inspect "$IMAGE" >/dev/null 2>&1; }

# Print the Debian mirror URL that apt on this machine uses for the main
# archive (not -security / -updates), from deb822 *.sources or one-line *.list.
detect_mirror() {
    local f uri
    shopt -s nullglob
    for f in /etc/apt/sources.list.d/*.sources; do
        # Walk deb822 stanzas; pick the URIs of the first stanza of Types deb
        # whose Suites contain a plain codename (no "-security"/"-updates").
        uri=$(awk '
            function flush() {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && suites_ok && enabled && uris != "") {
                    split(uris, u, /[ \t]+/); print u[1]; found = 1; exit
                }
                types = ""; uris = ""; suites_ok = 0; enabled = 1
            }
            BEGIN { enabled = 1 }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"   { sub(/^[^:]*:[ \t]*/, ""); types = $0; next }
            tolower($1) == "uris:"    { sub(/^[^:]*:[ \t]*/, ""); uris = $0; next }
            tolower($1) == "enabled:" { enabled = (tolower($2) != "no"); next }
            tolower($1) == "suites:"  {
                for (i = 2; i <= NF; i++) if ($i !~ /-/ && $i !~ /\//) suites_ok = 1
                next
            }
            END { if (!found) flush() }
        ' "$f")
        if [ -n "$uri" ] && [[ "$uri" != *security* ]]; then
            printf '%s\n' "$uri"; return 0
        fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [opts] URI SUITE COMPONENTS...
        uri=$(awk '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                u = $i; s = $(i + 1)
                if (s !~ /-/ && s !~ /\// && u !~ /security/) { print u; exit }
            }' "$f")
        if [ -n "$uri" ]; then printf '%s\n' "$uri"; return 0; fi
    done
    return 1
}

# Decide which storage driver dockerd should use. overlay2 is tested with a
# real overlay mount on the filesystem that will hold /var/lib/docker (nested
# overlayfs, e.g. inside another container, is the usual failure).
pick_storage_driver() {
    if [ -n "${ENVSNAP_DOCKER_STORAGE_DRIVER:-}" ]; then
        printf '%s\n' "$ENVSNAP_DOCKER_STORAGE_DRIVER"; return
    fi
    local base=/var/lib probe ok=0
    [ -d /var/lib/docker ] && base=/var/lib/docker
    probe=$(mktemp -d "$base/.envsnap-ovl-probe.XXXXXX")
    mkdir -p "$probe"/{lower,upper,work,merged}
    echo lower >"$probe/lower/f"
    if mount -t overlay overlay \
            -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
            "$probe/merged" 2>/dev/null; then
        if echo upper >"$probe/merged/f" 2>/dev/null && [ -f "$probe/upper/f" ] \
                && [ "$(cat "$probe/lower/f")" = lower ]; then
            ok=1
        fi
        umount "$probe/merged" || true
    fi
    rm -rf --one-file-system "$probe"
    if [ "$ok" -eq 1 ]; then
        echo overlay2
    elif command -v fuse-overlayfs >/dev/null 2>&1 && [ -c /dev/fuse ]; then
        echo fuse-overlayfs
    else
        echo vfs
    fi
}

DOCKERD_PID=
start_dockerd() {
    # start_dockerd DRIVER : start dockerd detached; return 0 once `docker info` works.
    local driver=$1 i
    log "starting dockerd (storage driver: $driver, log: $DOCKERD_LOG)"
    {
        printf '\n===== docker-setup: %s starting dockerd --storage-driver=%s %s\n' \
            "$(date -Is)" "$driver" "${DOCKERD_EXTRA[*]:-}"
    } >>"$DOCKERD_LOG"
    # setsid + nohup: the daemon must outlive this script and its process group.
    setsid nohup dockerd --storage-driver="$driver" ${DOCKERD_EXTRA[@]+"${DOCKERD_EXTRA[@]}"} \
        </dev/null >>"$DOCKERD_LOG" 2>&1 &
    DOCKERD_PID=$!
    for i in $(seq 1 60); do
        if engine_up; then
            log "dockerd is up after ${i}s (pid $DOCKERD_PID)"
            return 0
        fi
        if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
            log "dockerd (pid $DOCKERD_PID) exited during startup"
            return 1
        fi
        sleep 1
    done
    log "dockerd did not answer within 60s"
    return 1
}

stop_our_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=
}

fail_dockerd() {
    printf 'docker-setup: ERROR: %s; last lines of %s:\n' "$1" "$DOCKERD_LOG" >&2
    tail -n 40 "$DOCKERD_LOG" >&2 || true
    exit 1
}

# ------------------------------------------------------------ 1. install ---
if ! command -v dockerd >/dev/null 2>&1 && ! engine_up; then
    log "dockerd not found; installing docker.io"
    pkgs=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
    apt_install "${pkgs[@]}"
fi
command -v docker >/dev/null 2>&1 || apt_install docker.io
log "docker client: $(command -v docker) ($(docker version --format '{{.Client.Version}}' 2>/dev/null | head -n 1))"

# -------------------------------------------------------------- 2. engine ---
if engine_up; then
    log "docker engine already answering"
else
    driver=$(pick_storage_driver)
    if ! start_dockerd "$driver"; then
        if [ -z "${ENVSNAP_DOCKER_STORAGE_DRIVER:-}" ] && [ "$driver" != vfs ]; then
            log "dockerd failed with $driver; retrying with vfs"
            stop_our_dockerd
            start_dockerd vfs || fail_dockerd "dockerd failed to start (vfs fallback too)"
        else
            fail_dockerd "dockerd failed to start"
        fi
    fi
fi
log "engine: $(docker info --format 'server {{.ServerVersion}}, storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}' 2>/dev/null)"

# ---------------------------------------------------------- 3. base image ---
build_rootfs_tar() {
    local mirror=$1 meta=$2
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    mkdir -p "$WORK_PARENT"
    ROOTFS_DIR=$(mktemp -d "$WORK_PARENT/envsnap-rootfs.XXXXXX")
    local dir=$ROOTFS_DIR
    # Never leave debootstrap's /proc,/sys mounts behind, never rm across them.
    cleanup_rootfs() {
        local m d=${ROOTFS_DIR:-}
        if [ -n "$d" ] && [ -d "$d" ]; then
            awk -v d="$d" 'index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
                while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
            rm -rf --one-file-system "$d"
        fi
        ROOTFS_DIR=
    }
    trap cleanup_rootfs EXIT
    log "debootstrap --variant=minbase --include=$INCLUDE_PKGS $SUITE $dir $mirror"
    local t0=$SECONDS
    if ! debootstrap --variant=minbase --include="$INCLUDE_PKGS" \
            "$SUITE" "$dir" "$mirror" >"$WORK_PARENT/envsnap-debootstrap.log" 2>&1; then
        tail -n 30 "$WORK_PARENT/envsnap-debootstrap.log" >&2
        [ -f "$dir/debootstrap/debootstrap.log" ] && tail -n 30 "$dir/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log: $WORK_PARENT/envsnap-debootstrap.log)"
    fi
    log "debootstrap done in $((SECONDS - t0))s; trimming rootfs"
    if awk -v d="$dir" 'index($2, d "/") == 1 { f = 1 } END { exit !f }' /proc/mounts; then
        die "debootstrap left filesystems mounted under $dir; refusing to touch it"
    fi

    # apt caches, package lists, logs, docs we do not need in a CI image.
    chroot "$dir" apt-get clean || true
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin \
           "$dir"/var/cache/apt/archives/*.deb \
           "$dir"/var/cache/debconf/*-old "$dir"/var/lib/dpkg/*-old \
           "$dir"/var/log/*.log "$dir"/var/log/apt/* \
           "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
    # Docs: keep only the copyright files (~12 MiB saved; translations ~33 MiB).
    find "$dir/usr/share/doc" -xdev -mindepth 1 ! -type d ! -name copyright -delete
    find "$dir/usr/share/doc" -xdev -mindepth 1 -type d -empty -delete
    mkdir -p "$dir/var/lib/apt/lists/partial"
    # Same apt tweaks as the official debian images (keep later layers small).
    cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Acquire::GzipIndexes "true";' >"$dir/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    # Do not leak host identity into the image (docker bind-mounts these anyway).
    : >"$dir/etc/resolv.conf"
    echo localhost >"$dir/etc/hostname"
    [ -f "$dir/etc/machine-id" ] && : >"$dir/etc/machine-id"
    # /dev is a tmpfs at run time; drop the nodes debootstrap created.
    find "$dir/dev" -xdev -mindepth 1 -delete 2>/dev/null || true

    mkdir -p "$CACHE_DIR"
    log "writing rootfs tarball $ROOTFS_TAR"
    tar --numeric-owner --one-file-system -C "$dir" -cf "$ROOTFS_TAR.tmp" .
    mv -f "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    printf '%s\n' "$meta" >"$ROOTFS_META"
    cleanup_rootfs
    trap - EXIT
}

if [ "$REBUILD" != 1 ] && image_exists; then
    log "image $IMAGE already present; skipping build"
else
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.lock"
    flock 9
    mirror=${ENVSNAP_DEBIAN_MIRROR:-}
    if [ -z "$mirror" ]; then
        mirror=$(detect_mirror || true)
        if [ -z "$mirror" ]; then
            mirror=http://deb.debian.org/debian
            log "could not find a Debian mirror in /etc/apt; using $mirror"
        else
            log "Debian mirror from apt sources: $mirror"
        fi
    fi
    meta="recipe=$ROOTFS_RECIPE suite=$SUITE include=$INCLUDE_PKGS mirror=$mirror"
    if [ "$REBUILD" != 1 ] && [ -s "$ROOTFS_TAR" ] && [ "$(cat "$ROOTFS_META" 2>/dev/null)" = "$meta" ]; then
        log "using cached rootfs tarball $ROOTFS_TAR"
    else
        build_rootfs_tar "$mirror" "$meta"
    fi
    log "docker import $ROOTFS_TAR -> $IMAGE"
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        --message "envsnap CI base: debootstrap minbase $SUITE + $INCLUDE_PKGS from $mirror" \
        - "$IMAGE" <"$ROOTFS_TAR" >/dev/null
    flock -u 9
fi

# -------------------------------------------------------------- 4. verify ---
log "verifying: docker run --rm --network none $IMAGE python3 ..."
if ! out=$(docker run --rm --network none ${RUN_EXTRA[@]+"${RUN_EXTRA[@]}"} "$IMAGE" \
        python3 -c 'import sys, venv, ensurepip; print(sys.version.split()[0]); print(sys.version)' 2>&1); then
    printf '%s\n' "$out" >&2
    die "verification run failed (set ENVSNAP_DOCKER_RUN_FLAGS for extra docker run flags)"
fi
py_short=$(printf '%s\n' "$out" | head -n 1)
pip_ver=$(docker run --rm --network none ${RUN_EXTRA[@]+"${RUN_EXTRA[@]}"} "$IMAGE" \
    python3 -m pip --version 2>/dev/null | awk '{print $2}' || true)
size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "image $IMAGE: python $py_short, pip ${pip_ver:-?}, size $((size / 1024 / 1024)) MiB"
log "python in image: $(printf '%s\n' "$out" | sed -n 2p)"
log "done in $(( $(date +%s) - START_TS ))s"

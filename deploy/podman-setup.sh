#!/usr/bin/env bash
# Installs podman, buildah, runc and debootstrap from Debian and writes the containers.conf
# these CI machines need: runtime runc with the cgroupfs manager (crun fails here), and
# default ulimits at or below the machine's hard limits (podman's defaults exceed them).
# Idempotent; run as root. Sourced settings: none; prints nothing on success but apt's log.
set -euo pipefail

need_pkgs=()
for tool in podman:podman buildah:buildah runc:runc debootstrap:debootstrap \
            newuidmap:uidmap fuse-overlayfs:fuse-overlayfs slirp4netns:slirp4netns; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_pkgs+=("${tool#*:}")
done
if ((${#need_pkgs[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${need_pkgs[@]}" netavark aardvark-dns iptables catatonit >/dev/null
fi
for tool in podman buildah runc debootstrap; do
  command -v "$tool" >/dev/null || { echo "podman-setup: $tool is missing after install" >&2; exit 1; }
done

mkdir -p /etc/containers
conf=/etc/containers/containers.conf
want='# Written by wsgate deploy/podman-setup.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
'
if [[ ! -f $conf ]] || [[ "$(cat "$conf")" != "$(printf '%s' "$want")" ]]; then
  printf '%s' "$want" >"$conf"
fi
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' | grep -qx 'runc cgroupfs' \
  || { echo "podman-setup: podman does not use runc/cgroupfs" >&2; podman info >&2; exit 1; }

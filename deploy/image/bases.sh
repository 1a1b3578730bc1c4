#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two base images, for machines that reach Debian's
# mirror and crates.io but no container registry (CI). Prints two lines, BUILD_IMAGE=...
# and RUNTIME_IMAGE=..., naming podman images:
#   build:   Debian bookworm (debootstrap) + gcc/libc6-dev/binutils/make (jemalloc's build) + this machine's own
#            Rust toolchain (the sysroot of `rustc`, docs left out) at /usr/local/rust,
#            CARGO_HOME=/usr/local/cargo, and this machine's CA bundle, so cargo reaches
#            crates.io through the same trust store as the host. python3-websockets is
#            included for the chart test's echo app (deploy/chart/echo-app).
#   runtime: the files of libc6, libgcc-s1 and the CA bundle from the same rootfs, plus
#            /etc/passwd with `nonroot` = 65532: what distroless/cc-debian12:nonroot has
#            that a Rust binary can use. No shell, no package manager.
# Cached by a key over this script, the toolchain's version and the CA bundle: the
# debootstrapped rootfs as a tarball under $WSGATE_CI_CACHE (default /var/cache/wsgate-ci),
# the images in podman's store under that key. A second run takes a second or two.
set -euo pipefail

cache=${WSGATE_CI_CACHE:-/var/cache/wsgate-ci}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ca_bundle=/etc/ssl/certs/ca-certificates.crt
for tool in debootstrap podman rustc sha256sum tar; do
  command -v "$tool" >/dev/null || { echo "bases.sh: $tool not found" >&2; exit 1; }
done
[[ -s $ca_bundle ]] || { echo "bases.sh: $ca_bundle missing" >&2; exit 1; }

sysroot=$(rustc --print sysroot)
[[ -x $sysroot/bin/cargo ]] || { echo "bases.sh: no cargo in the toolchain at $sysroot" >&2; exit 1; }
suite=bookworm
packages=ca-certificates,gcc,libc6-dev,binutils,make,python3-websockets
# The rootfs tarball depends on what debootstrap is asked for; the images also on this
# script, the toolchain and the CA bundle.
rootfs_key=$(echo "$suite $packages $mirror" | sha256sum | cut -c1-16)
key=$( { cat "$0"; rustc -vV; "$sysroot/bin/cargo" -V; sha256sum "$ca_bundle"; echo "$rootfs_key"; } \
  | sha256sum | cut -c1-16)
build_image=localhost/wsgate-ci/rust-bookworm:$key
runtime_image=localhost/wsgate-ci/cc-debian12-nonroot:$key

if podman image exists "$build_image" && podman image exists "$runtime_image"; then
  echo "BUILD_IMAGE=$build_image"
  echo "RUNTIME_IMAGE=$runtime_image"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs_tar=$cache/$suite-$rootfs_key.tar
if [[ ! -s $rootfs_tar ]]; then
  echo "bases.sh: debootstrapping bookworm from $mirror (cached afterwards)" >&2
  debootstrap --variant=minbase \
    --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  chroot "$work/rootfs" apt-get clean
  rm -rf "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" --numeric-owner -cf "$rootfs_tar.tmp" .
  mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$work/rootfs"
fi
# Old keys' tarballs are dead weight.
find "$cache" -maxdepth 1 -name "$suite-*.tar" ! -name "$suite-$rootfs_key.tar" -delete

mkdir "$work/rootfs"
tar -C "$work/rootfs" --numeric-owner -xf "$rootfs_tar"
root=$work/rootfs

# --- runtime: the files of a few packages, taken from the bootstrapped rootfs -----------
rt=$work/runtime
mkdir -p "$rt/etc/ssl/certs" "$rt/tmp" "$rt/home/nonroot" "$rt/root"
for pkg in libc6 libgcc-s1 base-files netbase tzdata; do
  chroot "$root" dpkg-query -L "$pkg" 2>/dev/null || true
done | grep -v -E '^/usr/share/(doc|man|info|lintian)' | sed 's|^/||' >"$work/runtime.raw"
# Merged /usr: bookworm's /lib, /lib64, /bin and /sbin are symlinks into /usr, while dpkg
# still lists some files under the old paths. List the real paths, then the symlinks.
links=()
for link in lib lib64 bin sbin; do [[ -L $root/$link ]] && links+=("$link"); done
{
  for link in "${links[@]}"; do echo "s#^$link/#usr/$link/#"; echo "\\#^$link\$#d"; done
} >"$work/usrmerge.sed"
sed -f "$work/usrmerge.sed" "$work/runtime.raw" | sort -u >"$work/runtime.list"
printf '%s\n' "${links[@]}" >>"$work/runtime.list"
tar -C "$root" --no-recursion -cf - -T "$work/runtime.list" | tar -C "$rt" -xf -
cp "$root/etc/ssl/certs/ca-certificates.crt" "$rt/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rt/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$rt/etc/group"
chmod 1777 "$rt/tmp"
chown 65532:65532 "$rt/home/nonroot"
chmod 700 "$rt/root"
[[ -e $rt/lib64/ld-linux-x86-64.so.2 ]] || { echo "bases.sh: runtime rootfs has no dynamic loader" >&2; exit 1; }
[[ ! -e $rt/bin/sh && ! -e $rt/usr/bin/sh ]] || { echo "bases.sh: runtime rootfs has a shell" >&2; exit 1; }
podman rmi -f "$runtime_image" >/dev/null 2>&1 || true
tar -C "$rt" --numeric-owner -cf - . | podman import --quiet \
  --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  - "$runtime_image" >/dev/null

# --- build: the rootfs + this machine's toolchain + this machine's CA bundle ------------
mkdir -p "$root/usr/local/rust" "$root/usr/local/cargo"
tar -C "$sysroot" --exclude=./share/doc --exclude=./share/man --exclude=./lib/rustlib/src \
  --exclude='./lib/rustlib/manifest-rust-docs*' -cf - . | tar -C "$root/usr/local/rust" -xf -
cp "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
chroot "$root" /usr/local/rust/bin/cargo -V >/dev/null \
  || { echo "bases.sh: the copied toolchain does not run in the bookworm rootfs" >&2; exit 1; }
podman rmi -f "$build_image" >/dev/null 2>&1 || true
tar -C "$root" --numeric-owner -cf - . | podman import --quiet \
  --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV CARGO_HOME=/usr/local/cargo' \
  --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  --change 'WORKDIR /' \
  - "$build_image" >/dev/null

# Images of older keys are dead weight too.
podman images --format '{{.Repository}}:{{.Tag}}' \
  | grep -E '^localhost/wsgate-ci/(rust-bookworm|cc-debian12-nonroot):' \
  | grep -v ":$key\$" | xargs -r podman rmi -f >/dev/null || true

echo "BUILD_IMAGE=$build_image"
echo "RUNTIME_IMAGE=$runtime_image"

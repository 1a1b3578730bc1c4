#!/usr/bin/env bash
# Builds the repository's real Dockerfile from a clean copy of HEAD (git archive: no
# target/, no uncommitted files) with local stand-ins for its base images
# (bases.sh), then runs the image and checks it from outside (probe.py).
# Needs root, podman (podman-setup.sh), python3 with websockets, git.
# Prints the image name as its last line: IMAGE=localhost/wsgate:ci
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=${WSGATE_IMAGE:-localhost/wsgate:ci}
for tool in git podman python3 tar; do
  command -v "$tool" >/dev/null || { echo "image-test: $tool not found" >&2; exit 1; }
done
python3 -c 'import websockets' || { echo "image-test: python3 websockets missing" >&2; exit 1; }

eval "$(bash "$here/bases.sh")"
: "${BUILD_IMAGE:?}" "${RUNTIME_IMAGE:?}"

ctx=$(mktemp -d /tmp/wsgate-image-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
git -C "$repo" archive --format=tar HEAD | tar -C "$ctx" -xf -
echo "image-test: building $(git -C "$repo" rev-parse --short HEAD) with $BUILD_IMAGE / $RUNTIME_IMAGE"
start=$SECONDS
# Host network for the build: cargo fetches from crates.io through the host's resolver.
podman build --network host --layers \
  --build-arg BUILD_IMAGE="$BUILD_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
  -t "$image" "$ctx" >"$ctx.build.log" 2>&1 \
  || { tail -n 60 "$ctx.build.log" >&2; rm -f "$ctx.build.log"; exit 1; }
rm -f "$ctx.build.log"
echo "image-test: built $image in $((SECONDS - start))s"

python3 "$here/probe.py" "$image"
echo "IMAGE=$image"

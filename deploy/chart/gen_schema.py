#!/usr/bin/env python3
"""Writes charts/wsgate/values.schema.json: strict (every object the chart defines
rejects unknown keys), Kubernetes objects passed through (kubernetes-validate checks the
rendered manifests). Run it after changing values.yaml's shape; deploy/chart/test.sh
fails when the committed schema differs from what this script writes."""

import json
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parents[2] / "charts" / "wsgate" / "values.schema.json"


def obj(props, required=(), desc=None):
    o = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        o["required"] = list(required)
    if desc:
        o["description"] = desc
    return o


def string(desc=None, **kw):
    o = {"type": "string", **kw}
    if desc:
        o["description"] = desc
    return o


PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
K8S_OBJECT = {"type": "object", "description": "a Kubernetes object, passed through"}
K8S_LIST = {"type": "array", "items": {"type": "object"}, "description": "a list of Kubernetes objects, passed through"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
DIGEST = string("sha256:<64 hex>", pattern="^(|sha256:[0-9a-f]{64})$")
PULL = {"enum": ["Always", "IfNotPresent", "Never"]}
ENV_NAME = string(pattern="^[A-Za-z_][A-Za-z0-9_]*$")

image = obj({
    "repository": string(minLength=1),
    "tag": {"type": "string"},
    "digest": DIGEST,
    "pullPolicy": PULL,
}, required=["repository"])

schema = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "wsgate chart values",
    **obj({
        "mode": {"enum": ["wrap", "sidecar", "gateway"], "description": "how wsgate fronts the app"},
        "nameOverride": {"type": "string"},
        "fullnameOverride": {"type": "string"},
        "replicaCount": {"type": "integer", "minimum": 0},
        "image": image,
        "imagePullSecrets": K8S_LIST,
        "app": obj({
            "name": string(pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63),
            "image": image,
            "port": PORT,
            "command": {"type": "array", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "env": K8S_LIST,
            "envFrom": K8S_LIST,
            "resources": K8S_OBJECT,
            "securityContext": K8S_OBJECT,
            "livenessProbe": K8S_OBJECT,
            "readinessProbe": K8S_OBJECT,
            "startupProbe": K8S_OBJECT,
            "lifecycle": K8S_OBJECT,
            "volumeMounts": K8S_LIST,
        }),
        "wsgate": obj({
            "nativeSidecar": {"type": "boolean"},
            "config": {"type": "string"},
            "existingConfigMap": {"type": "string"},
            "rollOnConfigChange": {"type": "boolean"},
            "secrets": {"type": "array", "items": obj({
                "name": ENV_NAME, "secretName": string(minLength=1), "key": string(minLength=1),
            }, required=["name", "secretName", "key"])},
            "secretVolumes": {"type": "array", "items": obj({
                "name": string(pattern="^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=40),
                "secretName": string(minLength=1),
                "mountPath": string(pattern="^/"),
            }, required=["name", "secretName", "mountPath"])},
            "env": K8S_LIST,
            "preStopSleepSeconds": {"type": "integer", "minimum": 0},
            "resources": K8S_OBJECT,
            "securityContext": K8S_OBJECT,
            "livenessProbe": K8S_OBJECT,
            "readinessProbe": K8S_OBJECT,
            "startupProbe": K8S_OBJECT,
        }),
        "ports": obj({"proxy": PORT, "admin": PORT}, required=["proxy", "admin"]),
        "service": obj({
            "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
            "port": PORT,
            "annotations": LABELS,
            "labels": LABELS,
        }),
        "adminService": obj({"enabled": {"type": "boolean"}, "port": PORT, "annotations": LABELS}),
        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 1},
        "serviceMonitor": obj({
            "enabled": {"type": "boolean"},
            "labels": LABELS,
            "interval": string(pattern="^[0-9]+(ms|s|m|h)$"),
            "scrapeTimeout": string(pattern="^[0-9]+(ms|s|m|h)$"),
            "namespace": {"type": "string"},
            "metricRelabelings": K8S_LIST,
            "relabelings": K8S_LIST,
        }),
        "podSecurityContext": K8S_OBJECT,
        "podAnnotations": LABELS,
        "podLabels": LABELS,
        "serviceAccount": obj({"name": {"type": "string"}, "automountToken": {"type": "boolean"}}),
        "extraVolumes": K8S_LIST,
        "nodeSelector": LABELS,
        "tolerations": K8S_LIST,
        "affinity": K8S_OBJECT,
        "topologySpreadConstraints": K8S_LIST,
        "sidecar": obj({"podSelector": LABELS, "renderPatch": {"type": "boolean"}}),
        "gateway": obj({"appPodSelector": LABELS, "appPort": PORT}),
        "networkPolicy": obj({
            "enabled": {"type": "boolean"},
            "proxyFrom": K8S_LIST,
            "adminFrom": K8S_LIST,
            "extraIngress": K8S_LIST,
            "appExtraIngress": K8S_LIST,
        }),
        "podDisruptionBudget": obj({
            "enabled": {"type": "boolean"},
            "minAvailable": {"type": ["integer", "string"], "pattern": "^([0-9]+%?)?$"},
            "maxUnavailable": {"type": ["integer", "string"], "pattern": "^[0-9]+%?$"},
        }),
        "autoscaling": obj({
            "enabled": {"type": "boolean"},
            "minReplicas": {"type": "integer", "minimum": 1},
            "maxReplicas": {"type": "integer", "minimum": 1},
            "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
            "scaleDownStabilizationSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        }),
        "prometheusRule": obj({"enabled": {"type": "boolean"}, "labels": LABELS, "namespace": {"type": "string"}}),
        # Helm passes this to every chart (subchart globals).
        "global": {"type": "object"},
    }, required=["mode", "image", "wsgate", "ports"]),
}

# Mode-specific requirements the templates also enforce with a clearer message.
schema["allOf"] = [
    {"if": {"properties": {"mode": {"const": "sidecar"}}},
     "then": {"properties": {"sidecar": {"properties": {"podSelector": {"minProperties": 1}}}}}},
]

def dump(node, indent=0):
    """JSON with small objects on one line, so the schema stays short enough to read."""
    flat = json.dumps(node)
    if len(flat) + indent <= 100 or not isinstance(node, (dict, list)):
        return flat
    pad = " " * (indent + 2)
    if isinstance(node, dict):
        items = [f"{pad}{json.dumps(k)}: {dump(v, indent + 2)}" for k, v in node.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + dump(v, indent + 2) for v in node) + "\n" + " " * indent + "]"


text = dump(schema) + "\n"
assert json.loads(text) == schema
if len(sys.argv) > 1 and sys.argv[1] == "--check":
    if OUT.read_text() != text:
        print(f"{OUT} is stale: run {__file__}", file=sys.stderr)
        sys.exit(1)
else:
    OUT.write_text(text)

"""A small renderer with kustomize semantics for the subset deploy/k8s uses.

Supported kustomization fields: resources (files), namespace, labels (pairs, includeSelectors
false, includeTemplates false), images (name, newName, newTag). Any other field raises, so the
renderer cannot silently drift from what `kustomize build` would produce; when kubectl is on
the machine, tests/deploy/test_manifests.py also compares the two renderings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "images", "resources"}
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "IngressClass",
}


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs inside a workload (Deployment/StatefulSet/DaemonSet/Job/CronJob/Pod)."""
    kind = obj["kind"]
    spec = obj.get("spec", {})
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [spec["template"]["spec"]]
    return []


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for spec in pod_specs(obj) for c in spec.get("initContainers", []) + spec.get("containers", [])]


def _image_name(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def render(directory: Path) -> list[dict[str, Any]]:
    """Every object of the kustomization in `directory`, transformed as kustomize would."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise ValueError(
            f"{directory}/kustomization.yaml: fields {sorted(unsupported)} are not supported by this renderer"
        )
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if not path.is_file():
            raise ValueError(f"{directory}/kustomization.yaml: resource {resource!r} is not a file")
        objects.extend(copy.deepcopy(doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    namespace = kustomization.get("namespace")
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        for entry in kustomization.get("labels", []):
            if entry.get("includeSelectors") or entry.get("includeTemplates"):
                raise ValueError("labels with includeSelectors/includeTemplates are not supported")
            meta.setdefault("labels", {}).update(entry["pairs"])
        for container in containers(obj):
            for image in kustomization.get("images", []):
                if _image_name(container["image"]) == image["name"]:
                    name = image.get("newName", image["name"])
                    tag = image.get("newTag")
                    container["image"] = f"{name}:{tag}" if tag else name
    return objects

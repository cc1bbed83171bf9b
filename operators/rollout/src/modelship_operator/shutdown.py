"""What the operator undoes when it stops: kopf's finalizers on the objects it watches.

kopf puts its finalizer on every object a daemon or a timer runs for (each ModelRegistry, and InferenceServices that
follow an alias alone) and removes it only while the operator runs. ``helm uninstall`` deletes the operator's
Deployment and those objects at the same moment, so an operator already gone would leave them, and their namespace,
terminating forever. A stopping operator therefore releases them; the next start puts the finalizers back. The
children stay safe meanwhile: they are owned (ownerReferences), so the garbage collector removes them with their
InferenceService.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from modelship_operator.kube import ISVC, REGISTRY, Kube, KubeError

log = logging.getLogger(__name__)

KOPF_FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace(path: Path = SERVICE_ACCOUNT_NAMESPACE) -> set[str]:
    """The pod's own namespace (where the chart puts the ModelRegistry), even before the operator saw an object."""
    try:
        return {path.read_text(encoding="utf-8").strip()} - {""}
    except OSError:
        return set()


def release_finalizers(kube: Kube, namespaces: Iterable[str], finalizer: str = KOPF_FINALIZER) -> int:
    """Remove ``finalizer`` from every ModelRegistry and InferenceService in ``namespaces``; how many were patched."""
    released = 0
    for namespace in sorted(set(namespaces)):
        for kind in (REGISTRY, ISVC):
            try:
                objects = kube.list(kind, namespace)
            except KubeError as exc:
                log.warning("cannot list %s in %s to release finalizers: %s", kind.plural, namespace, exc)
                continue
            for obj in objects:
                meta = obj.get("metadata", {})
                finalizers = meta.get("finalizers") or []
                if finalizer not in finalizers:
                    continue
                rest = [f for f in finalizers if f != finalizer]
                try:
                    kube.merge_patch(kind, namespace, meta["name"], {"metadata": {"finalizers": rest or None}})
                    released += 1
                except KubeError as exc:
                    if not exc.not_found:
                        log.warning("cannot release %s %s/%s: %s", kind.kind, namespace, meta["name"], exc)
    if released:
        log.info("released kopf's finalizer on %d object(s) before stopping", released)
    return released

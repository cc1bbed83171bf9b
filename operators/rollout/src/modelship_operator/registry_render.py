"""What a ModelRegistry wants to exist (pure): one InferenceService per served registered model."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

from modelship_common.registry import CHAMPION, SERVE_TAG
from modelship_operator import constants as c

MAX_ISVC_NAME = 53
#: Spec fields of a registry-created InferenceService that the registry owns (its template is authoritative).
MANAGED_SPEC_FIELDS = ("model", "registry", "protocol", "replicas", "resources")
#: Owned only while the template sets it: unset, each InferenceService keeps its own (``kubectl patch``-ed) rollout.
TEMPLATE_ROLLOUT = "rollout"


def isvc_name_for(model_name: str) -> str:
    """A DNS-1035 name (<= 53 chars) for a registered model's InferenceService.

    Names that already qualify are kept (``penguins``, ``digits-fast``); others are lower-cased, cleaned and
    suffixed with a short hash of the original so that two models never collide.
    """
    if re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", model_name) and len(model_name) <= MAX_ISVC_NAME:
        return model_name
    cleaned = re.sub(r"[^a-z0-9-]+", "-", model_name.lower()).strip("-")
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"m-{cleaned}".rstrip("-")
    digest = hashlib.sha256(model_name.encode()).hexdigest()[:6]
    return f"{cleaned[: MAX_ISVC_NAME - 7].rstrip('-')}-{digest}"


def selector(spec: dict[str, Any]) -> tuple[str, str]:
    sel = spec.get("selector") or {}
    return sel.get("tag") or SERVE_TAG, str(sel.get("value", "true"))


def registry_alias(spec: dict[str, Any]) -> str:
    return spec.get("alias") or CHAMPION


def desired_isvc_spec(registry_name: str, registry_spec: dict[str, Any], model_name: str) -> dict[str, Any]:
    """The spec fields the registry sets on the InferenceService of ``model_name``."""
    template = registry_spec.get("template") or {}
    spec: dict[str, Any] = {
        "model": {"name": model_name, "alias": registry_alias(registry_spec)},
        "registry": registry_name,
        "protocol": template.get("protocol", "v2"),
        "replicas": template.get("replicas", 1),
    }
    if template.get("resources"):
        spec["resources"] = copy.deepcopy(template["resources"])
    if template.get(TEMPLATE_ROLLOUT):
        spec[TEMPLATE_ROLLOUT] = copy.deepcopy(template[TEMPLATE_ROLLOUT])
    return spec


def render_registry_isvc(registry: dict[str, Any], model_name: str, version: str | None) -> dict[str, Any]:
    """The InferenceService a ModelRegistry creates for one registered model (owner reference added later)."""
    meta = registry["metadata"]
    spec = registry.get("spec") or {}
    annotations = {c.ANN_MODEL_NAME: model_name, **poke_annotations(spec, version)}
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.ISVC_KIND,
        "metadata": {
            "name": isvc_name_for(model_name),
            "namespace": meta["namespace"],
            "labels": {c.LABEL_REGISTRY: meta["name"], c.LABEL_PART_OF: "modelship", c.LABEL_MANAGED_BY: c.MANAGER},
            "annotations": annotations,
        },
        "spec": desired_isvc_spec(meta["name"], spec, model_name),
    }


def poke_annotations(registry_spec: dict[str, Any], version: str | None) -> dict[str, str]:
    """Annotations whose change makes the InferenceService reconcile (kopf sees an update)."""
    return {
        c.ANN_RESOLVED_VERSION: version or "",
        ANN_TRACKING_URI: registry_spec.get("trackingUri", ""),
    }


ANN_TRACKING_URI = "modelship.io/tracking-uri"


def _replacement(have: Any, want: Any) -> Any:
    """Merge-patch value turning ``have`` into ``want`` (keys ``want`` lacks are nulled, i.e. removed)."""
    if isinstance(have, dict) and isinstance(want, dict):
        out = {k: _replacement(have.get(k), v) for k, v in want.items()}
        out.update({k: None for k in have if k not in want})
        return out
    return want  # None removes the field


def isvc_patch(existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch bringing ``existing`` to the registry's wishes, or None when nothing differs."""
    patch: dict[str, Any] = {}
    have_spec = existing.get("spec") or {}
    want_spec = desired["spec"]
    spec_patch = {}
    managed = (*MANAGED_SPEC_FIELDS, TEMPLATE_ROLLOUT) if TEMPLATE_ROLLOUT in want_spec else MANAGED_SPEC_FIELDS
    for key in managed:
        want = want_spec.get(key)
        have = have_spec.get(key)
        if have != want:
            spec_patch[key] = _replacement(have, want)
    if spec_patch:
        patch["spec"] = spec_patch
    have_ann = (existing.get("metadata") or {}).get("annotations") or {}
    ann_patch = {k: v for k, v in desired["metadata"]["annotations"].items() if have_ann.get(k) != v}
    have_labels = (existing.get("metadata") or {}).get("labels") or {}
    label_patch = {k: v for k, v in desired["metadata"]["labels"].items() if have_labels.get(k) != v}
    if ann_patch or label_patch:
        patch["metadata"] = {}
        if ann_patch:
            patch["metadata"]["annotations"] = ann_patch
        if label_patch:
            patch["metadata"]["labels"] = label_patch
    return patch or None

import pytest

from modelship_operator import constants as c
from modelship_operator.registry_render import isvc_name_for, isvc_patch, render_registry_isvc

REGISTRY = {
    "apiVersion": "modelship.io/v1alpha1",
    "kind": "ModelRegistry",
    "metadata": {"name": "mlflow", "namespace": "ml", "uid": "r1"},
    "spec": {
        "trackingUri": "http://mlflow:5000",
        "alias": "champion",
        "selector": {"tag": "modelship.io/serve", "value": "true"},
        "template": {"replicas": 2, "protocol": "v2", "resources": {"limits": {"cpu": "1"}}},
    },
}


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("penguins", "penguins"),
        ("digits-fast", "digits-fast"),
        ("Digits_Fast", None),
        ("1model", None),
        ("a" * 60, None),
    ],
)
def test_isvc_names(model, expected):
    name = isvc_name_for(model)
    if expected:
        assert name == expected
    import re

    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name)
    assert len(name) <= 53
    assert isvc_name_for(model) == name  # stable


def test_distinct_models_get_distinct_names():
    assert isvc_name_for("My_Model") != isvc_name_for("my-model!")


def test_render_registry_isvc():
    obj = render_registry_isvc(REGISTRY, "penguins", "3")
    assert obj["metadata"]["name"] == "penguins"
    assert obj["metadata"]["namespace"] == "ml"
    assert obj["metadata"]["labels"][c.LABEL_REGISTRY] == "mlflow"
    assert obj["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "3"
    assert obj["spec"] == {
        "model": {"name": "penguins", "alias": "champion"},
        "registry": "mlflow",
        "protocol": "v2",
        "replicas": 2,
        "resources": {"limits": {"cpu": "1"}},
    }
    assert render_registry_isvc(REGISTRY, "penguins", None)["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == ""


def test_patch_only_on_a_diff():
    desired = render_registry_isvc(REGISTRY, "penguins", "3")
    existing = {
        "metadata": {**desired["metadata"], "annotations": {**desired["metadata"]["annotations"], "other": "x"}},
        "spec": {**desired["spec"], "rollout": {"strategy": "Rolling"}},
    }
    assert isvc_patch(existing, desired) is None
    moved = render_registry_isvc(REGISTRY, "penguins", "4")
    assert isvc_patch(existing, moved) == {"metadata": {"annotations": {c.ANN_RESOLVED_VERSION: "4"}}}


def test_patch_replaces_pinned_version_and_removes_resources():
    desired = render_registry_isvc({**REGISTRY, "spec": {**REGISTRY["spec"], "template": {}}}, "penguins", "3")
    existing = {
        "metadata": desired["metadata"],
        "spec": {
            **desired["spec"],
            "model": {"name": "penguins", "version": "1"},
            "resources": {"limits": {"cpu": "1"}},
        },
    }
    existing["spec"]["replicas"] = 1
    patch = isvc_patch(existing, desired)
    assert patch == {"spec": {"model": {"name": "penguins", "alias": "champion", "version": None}, "resources": None}}


CANARY = {"strategy": "Canary", "canary": {"steps": [{"weight": 25}, {"weight": 100}]}}


def test_a_template_rollout_is_copied_and_owned():
    registry = {**REGISTRY, "spec": {**REGISTRY["spec"], "template": {"rollout": CANARY}}}
    desired = render_registry_isvc(registry, "penguins", "3")
    assert desired["spec"]["rollout"] == CANARY
    # An InferenceService patched to Shadow by hand is brought back to the template's Canary.
    existing = {"metadata": desired["metadata"], "spec": {**desired["spec"], "rollout": {"strategy": "Shadow"}}}
    assert isvc_patch(existing, desired) == {
        "spec": {"rollout": {"strategy": "Canary", "canary": {"steps": [{"weight": 25}, {"weight": 100}]}}}
    }


def test_without_a_template_rollout_each_isvc_keeps_its_own():
    desired = render_registry_isvc(REGISTRY, "penguins", "3")
    assert "rollout" not in desired["spec"]
    existing = {"metadata": desired["metadata"], "spec": {**desired["spec"], "rollout": CANARY}}
    assert isvc_patch(existing, desired) is None

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

"""The CRDs in k8s/crds are structural, documented, and accept the examples (the API server check is in
tests/integration; this one runs without a cluster)."""

import copy

import jsonschema
import pytest

from modelship_operator.registry_render import render_registry_isvc

from .helpers import CRD_DIR, EXAMPLES_DIR, closed, crd_schema, load_all, load_yaml

ISVC_CRD = CRD_DIR / "inferenceservices.modelship.io.yaml"
REG_CRD = CRD_DIR / "modelregistries.modelship.io.yaml"


def _walk(node, path="$"):
    yield path, node
    for key in ("properties",):
        for name, child in (node.get(key) or {}).items():
            yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("path", [ISVC_CRD, REG_CRD], ids=lambda p: p.name)
def test_crd_is_structural_and_documented(path):
    crd = load_yaml(path)
    assert crd["spec"]["group"] == "modelship.io"
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    schema = version["schema"]["openAPIV3Schema"]
    for where, node in _walk(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{where} has no type"
        assert not node.get("x-kubernetes-preserve-unknown-fields"), f"{where} preserves unknown fields"
        if where.startswith(("$.spec", "$.status")) and not where.endswith(("{}", "[]")):
            assert node.get("description"), f"{where} has no description"
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == f"{names['plural']}.modelship.io"
    assert "isvc" not in names.get("shortNames", [])


def test_short_names_and_printer_columns():
    isvc = load_yaml(ISVC_CRD)
    reg = load_yaml(REG_CRD)
    assert isvc["spec"]["names"]["shortNames"] == ["msvc"]
    assert reg["spec"]["names"]["shortNames"] == ["mreg"]
    cols = [c["name"] for c in isvc["spec"]["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert cols == ["Model", "Version", "Ready", "Age"]
    cols = [c["name"] for c in reg["spec"]["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert cols == ["Tracking URI", "Models", "Last Sync", "Age"]


def test_defaults_and_enums():
    spec = crd_schema(ISVC_CRD, "v1alpha1")["properties"]["spec"]["properties"]
    assert spec["protocol"]["enum"] == ["v1", "v2"] and spec["protocol"]["default"] == "v2"
    assert spec["replicas"]["default"] == 1
    rollout = spec["rollout"]["properties"]
    assert (
        rollout["strategy"]["enum"] == ["Rolling", "Shadow", "Canary"] and rollout["strategy"]["default"] == "Rolling"
    )
    assert rollout["canary"]["properties"]["steps"]["default"] == [{"weight": 10}, {"weight": 50}, {"weight": 100}]
    assert rollout["shadow"]["properties"]["share"]["default"] == 1.0
    # Nothing beside the strategy is defaulted at this level, so a Rolling spec stays {strategy: Rolling}.
    assert [key for key, node in rollout.items() if "default" in node] == ["strategy"]
    assert spec["model"]["required"] == ["name"]
    rules = [r["rule"] for r in spec["model"]["x-kubernetes-validations"]]
    assert rules == ["has(self.alias) != has(self.version)"]
    reg = crd_schema(REG_CRD, "v1alpha1")["properties"]["spec"]["properties"]
    assert reg["alias"]["default"] == "champion"
    assert reg["pollSeconds"]["default"] == 30
    assert reg["selector"]["properties"]["tag"]["default"] == "modelship.io/serve"
    assert reg["selector"]["properties"]["value"]["default"] == "true"


def _examples(kind):
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        for doc in load_all(path):
            if doc["kind"] == kind:
                yield path.name, doc


@pytest.mark.parametrize(("kind", "crd"), [("InferenceService", ISVC_CRD), ("ModelRegistry", REG_CRD)])
def test_examples_validate(kind, crd):
    schema = closed(crd_schema(crd, "v1alpha1"))
    found = list(_examples(kind))
    assert found
    for _name, doc in found:
        jsonschema.validate(doc, schema)


def test_schema_rejects_bad_objects():
    schema = closed(crd_schema(ISVC_CRD, "v1alpha1"))
    good = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "m"},
        "spec": {"model": {"name": "m", "alias": "champion"}},
    }
    jsonschema.validate(good, schema)
    for mutate in (
        lambda o: o["spec"].update(protocol="v3"),
        lambda o: o["spec"].update(replicas=-1),
        lambda o: o["spec"]["model"].update(version="latest"),
        lambda o: o["spec"].update(resources={"limits": {"cpu": "lots"}}),
        lambda o: o["spec"].update(unknown=True),
        lambda o: o["spec"]["model"].pop("name"),
    ):
        bad = copy.deepcopy(good)
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_registry_created_isvc_fits_the_crd():
    registry = next(doc for _n, doc in _examples("ModelRegistry"))
    registry = {**registry, "metadata": {**registry["metadata"], "namespace": "ml", "uid": "u"}}
    jsonschema.validate(render_registry_isvc(registry, "penguins", "3"), closed(crd_schema(ISVC_CRD, "v1alpha1")))


def test_registry_template_rollout_is_the_isvc_rollout_without_its_default():
    """ModelRegistry spec.template.rollout takes exactly InferenceService spec.rollout; it has no default of its own
    (``{}`` would make every registry own its InferenceServices' rollout, Rolling)."""
    isvc = crd_schema(ISVC_CRD, "v1alpha1")["properties"]["spec"]["properties"]["rollout"]
    template = crd_schema(REG_CRD, "v1alpha1")["properties"]["spec"]["properties"]["template"]["properties"]["rollout"]
    assert "default" not in template and isvc["default"] == {}
    assert {k: v for k, v in template.items() if k != "description"} == {
        k: v for k, v in isvc.items() if k not in ("description", "default")
    }
    registry = next(doc for _n, doc in _examples("ModelRegistry"))
    registry = copy.deepcopy({**registry, "metadata": {**registry["metadata"], "namespace": "ml", "uid": "u"}})
    registry["spec"]["template"] = {"rollout": {"strategy": "Canary", "analysis": {"minSamples": 50}}}
    jsonschema.validate(registry, closed(crd_schema(REG_CRD, "v1alpha1")))
    jsonschema.validate(render_registry_isvc(registry, "penguins", "3"), closed(crd_schema(ISVC_CRD, "v1alpha1")))


def test_crd_rollout_defaults_are_the_parsers_defaults():
    """The defaults written in the CRD are the ones modelship_common.rollout.spec applies."""
    from modelship_common.rollout.spec import parse_duration, parse_rollout_spec

    rollout = crd_schema(ISVC_CRD, "v1alpha1")["properties"]["spec"]["properties"]["rollout"]["properties"]
    spec = parse_rollout_spec({"strategy": "Canary"})
    shadow, canary, analysis = (rollout[k]["properties"] for k in ("shadow", "canary", "analysis"))
    assert shadow["share"]["default"] == spec.shadow_share
    assert shadow["minRequests"]["default"] == spec.shadow_step.min_requests
    assert parse_duration(shadow["minDuration"]["default"], "d") == spec.shadow_step.min_duration_s
    assert [s["weight"] for s in canary["steps"]["default"]] == [s.weight for s in spec.canary_steps]
    assert canary["minRequests"]["default"] == spec.canary_steps[0].min_requests
    assert parse_duration(canary["minDuration"]["default"], "d") == spec.canary_steps[0].min_duration_s
    assert "default" not in rollout["warmDuration"] and "Default 10m" in rollout["warmDuration"]["description"]
    assert spec.warm_duration_s == 600
    wire = spec.to_dict()["analysis"]
    assert {k: v.get("default") for k, v in analysis.items()} == wire


def test_schema_accepts_and_rejects_rollouts():
    schema = closed(crd_schema(ISVC_CRD, "v1alpha1"))
    base = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "m"},
        "spec": {"model": {"name": "m", "alias": "champion"}},
    }
    good = copy.deepcopy(base)
    good["spec"]["rollout"] = {
        "strategy": "Canary",
        "canary": {"minDuration": "2m", "steps": [{"weight": 10, "minRequests": 500}, {"weight": 100}]},
        "analysis": {"minSamples": 50, "maxErrorRate": 0.01, "maxP95LatencyMs": 200},
        "warmDuration": "1h30m",
    }
    jsonschema.validate(good, schema)
    for bad_rollout in (
        {"strategy": "BlueGreen"},
        {"canary": {"steps": [{"weight": 0}]}},
        {"canary": {"steps": [{"minRequests": 5}]}},
        {"canary": {"steps": []}},
        {"shadow": {"share": 1.5}},
        {"shadow": {"minDuration": "soon"}},
        {"analysis": {"minAgreement": 2}},
        {"analysis": {"unknown": 1}},
        {"steps": [10, 50]},
    ):
        bad = copy.deepcopy(base)
        bad["spec"]["rollout"] = bad_rollout
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)

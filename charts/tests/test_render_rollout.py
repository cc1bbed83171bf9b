"""The ModelRegistry's template.rollout from the chart values: Canary or Shadow for every registry-created model."""

from __future__ import annotations

import jsonschema

from charts.tests.conftest import Helm
from charts.tests.manifests import one
from charts.tests.test_render import _crd_schema, _strip_k8s_extensions

CANARY = (
    "operator.registry.template.rollout.strategy=Canary",
    "operator.registry.template.rollout.analysis.minSamples=50",
)


def test_registry_template_rollout_reaches_the_modelregistry(helm: Helm) -> None:
    registry = one(helm.render(sets=CANARY), "ModelRegistry", "r")
    assert registry["spec"]["template"] == {"rollout": {"strategy": "Canary", "analysis": {"minSamples": 50}}}
    jsonschema.validate(registry, _strip_k8s_extensions(_crd_schema("modelregistries")))


def test_without_a_template_rollout_the_registry_owns_none() -> None:
    """The default values leave template.rollout unset, so each InferenceService keeps its own spec.rollout."""
    import yaml

    from charts.tests.conftest import CHART

    values = yaml.safe_load((CHART / "charts/operator/values.yaml").read_text())
    assert values["registry"]["template"] == {}


def test_an_unknown_strategy_is_refused_by_the_values_schema(helm: Helm) -> None:
    out = helm.template(sets=("operator.registry.template.rollout.strategy=BlueGreen",), check=False)
    assert out.returncode != 0 and "strategy" in out.stderr, out.stderr

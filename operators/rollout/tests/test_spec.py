from decimal import Decimal

import pytest

from modelship_operator.spec import InvalidSpec, parse_quantity, parse_spec


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("100m", Decimal("0.1")),
        ("2", Decimal(2)),
        (1, Decimal(1)),
        ("1Gi", Decimal(2**30)),
        ("500M", Decimal("5e8")),
        ("1e3", Decimal(1000)),
        (".5", Decimal("0.5")),
        ("1.5Ki", Decimal(1536)),
    ],
)
def test_parse_quantity(raw, expected):
    assert parse_quantity(raw) == expected


@pytest.mark.parametrize("raw", ["lots", "1.5.5Gi", "", "1Gb", True, "--1"])
def test_parse_quantity_rejects(raw):
    with pytest.raises(InvalidSpec):
        parse_quantity(raw)


def test_defaults_applied():
    spec = parse_spec({"model": {"name": "penguins", "alias": "champion"}})
    assert spec.protocol == "v2"
    assert spec.replicas == 1
    assert spec.strategy == "Rolling"
    assert spec.registry is None
    assert spec.model.describe == "penguins@champion"


def test_pinned_version():
    spec = parse_spec({"model": {"name": "penguins", "version": 7}, "protocol": "v1", "replicas": 0})
    assert spec.model.version == "7"
    assert spec.model.alias is None
    assert spec.model.describe == "penguins/7"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (None, "spec is missing"),
        ({}, "spec.model is required"),
        ({"model": {"alias": "champion"}}, "spec.model.name is required"),
        ({"model": {"name": "m"}}, "exactly one"),
        ({"model": {"name": "m", "alias": "champion", "version": "1"}}, "exactly one"),
        ({"model": {"name": "m", "version": "0"}}, "positive integer"),
        ({"model": {"name": "m", "version": "v3"}}, "positive integer"),
        ({"model": {"name": "m", "alias": "bad alias"}}, "not a valid alias"),
        ({"model": {"name": "m", "alias": "a"}, "protocol": "v3"}, "v1 or v2"),
        ({"model": {"name": "m", "alias": "a"}, "replicas": -1}, "0 to 100"),
        ({"model": {"name": "m", "alias": "a"}, "replicas": True}, "0 to 100"),
        ({"model": {"name": "m", "version": "3"}, "rollout": {"strategy": "Canary"}}, "needs spec.model.alias"),
        ({"model": {"name": "m", "alias": "a"}, "rollout": {"strategy": "Blue"}}, "must be one of Rolling, Shadow"),
        (
            {"model": {"name": "m", "alias": "a"}, "rollout": {"strategy": "Canary", "canary": {"steps": []}}},
            "spec.rollout.canary.steps must be a non-empty list",
        ),
        ({"model": {"name": "m", "alias": "a"}, "resources": {"limits": {"cpu": "lots"}}}, "limits.cpu"),
        ({"model": {"name": "m", "alias": "a"}, "resources": {"limit": {"cpu": "1"}}}, "unknown keys"),
        (
            {"model": {"name": "m", "alias": "a"}, "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}},
            "requests.cpu (2) exceeds spec.resources.limits.cpu (1)",
        ),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec, message):
    with pytest.raises(InvalidSpec, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_spec(spec)


def test_resources_kept_verbatim():
    spec = parse_spec(
        {
            "model": {"name": "m", "alias": "a"},
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": 256 * 2**20}},
        }
    )
    assert spec.resources == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": 268435456}}


def test_rollout_parsed_with_its_defaults():
    from modelship_common.rollout.spec import RolloutSpec, Step

    assert parse_spec({"model": {"name": "m", "alias": "a"}}).rollout == RolloutSpec()
    # As the API server hands it over for a Rolling spec (the CRD defaults applied).
    assert (
        parse_spec({"model": {"name": "m", "alias": "a"}, "rollout": {"strategy": "Rolling"}}).rollout == RolloutSpec()
    )
    raw = {
        "model": {"name": "m", "alias": "a"},
        "rollout": {"strategy": "Canary", "canary": {"minDuration": "2m", "steps": [{"weight": 20}, {"weight": 100}]}},
    }
    spec = parse_spec(raw)
    assert spec.strategy == "Canary"
    assert spec.rollout.steps == (Step(20, 200, 120.0), Step(100, 200, 120.0))
    shadow = parse_spec(
        {"model": {"name": "m", "alias": "a"}, "rollout": {"strategy": "Shadow", "shadow": {"share": 0.2}}},
    )
    assert shadow.rollout.shadow_share == 0.2
    with pytest.raises(InvalidSpec, match="not supported by this operator yet"):
        parse_spec({"model": {"name": "m", "alias": "a"}, "rollout": {"strategy": "Shadow"}}, strategies=("Rolling",))

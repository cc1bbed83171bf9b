"""Parse and validate an InferenceService spec (pure).

The API server already enforces the CRD schema (types, enums, defaults, CEL rules); this module re-checks
what it can for objects that bypassed it (older CRD versions, tests) and adds the checks a schema cannot
express, e.g. requests must not exceed limits. Problems raise :class:`InvalidSpec` with a message for humans.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from modelship_common.rollout.spec import STRATEGIES, InvalidRolloutSpec, RolloutSpec, parse_rollout_spec

_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


#: The rollout strategies this operator runs: all of them (Rolling replaces the version in place; Shadow and Canary
#: put a candidate predictor next to the champion and judge it, see :mod:`modelship_operator.rollout_loop`).
RUN_STRATEGIES: tuple[str, ...] = STRATEGIES


class InvalidSpec(ValueError):
    """The InferenceService spec cannot be served as written; the message says what to fix."""


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes quantity (``100m``, ``1Gi``, ``2``, ``1e3``) as a Decimal. Raises :class:`InvalidSpec`."""
    if isinstance(value, bool):
        raise InvalidSpec(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise InvalidSpec(f"{value!r} is not a quantity (examples: 500m, 2, 256Mi, 1Gi)")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex only admits numbers
        raise InvalidSpec(f"{value!r} is not a quantity") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    if suffix:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number


@dataclass(frozen=True)
class ModelRef:
    """Which registered model and which version (pinned) or alias (followed)."""

    name: str
    alias: str | None = None
    version: str | None = None

    @property
    def describe(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


@dataclass(frozen=True)
class ServiceSpec:
    """A validated InferenceService spec with defaults applied."""

    model: ModelRef
    registry: str | None = None
    protocol: str = "v2"
    replicas: int = 1
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``spec.rollout`` with its defaults: the strategy, and for Shadow/Canary the steps and analysis gates.
    rollout: RolloutSpec = field(default_factory=RolloutSpec)

    @property
    def strategy(self) -> str:
        """``Rolling`` (default), ``Shadow`` or ``Canary``."""
        return self.rollout.strategy


def _resources(raw: Any) -> dict[str, dict[str, Any]]:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidSpec("spec.resources must be an object with limits and/or requests")
    unknown = set(raw) - {"limits", "requests"}
    if unknown:
        raise InvalidSpec(f"spec.resources has unknown keys {sorted(unknown)} (only limits and requests)")
    out: dict[str, dict[str, Any]] = {}
    parsed: dict[str, dict[str, Decimal]] = {}
    for kind in ("limits", "requests"):
        section = raw.get(kind)
        if section in (None, {}):
            continue
        if not isinstance(section, Mapping):
            raise InvalidSpec(f"spec.resources.{kind} must be a map of resource name to quantity")
        out[kind] = {}
        parsed[kind] = {}
        for name, value in section.items():
            if not _RESOURCE_NAME.match(str(name)):
                raise InvalidSpec(f"spec.resources.{kind}: {name!r} is not a resource name")
            try:
                quantity = parse_quantity(value)
            except InvalidSpec as exc:
                raise InvalidSpec(f"spec.resources.{kind}.{name}: {exc}") from None
            if quantity < 0:
                raise InvalidSpec(f"spec.resources.{kind}.{name} must not be negative")
            out[kind][str(name)] = value
            parsed[kind][str(name)] = quantity
    for name, request in parsed.get("requests", {}).items():
        limit = parsed.get("limits", {}).get(name)
        if limit is not None and request > limit:
            raise InvalidSpec(
                f"spec.resources.requests.{name} ({out['requests'][name]}) exceeds "
                f"spec.resources.limits.{name} ({out['limits'][name]})"
            )
    return out


def parse_spec(spec: Mapping[str, Any] | None, strategies: Collection[str] = RUN_STRATEGIES) -> ServiceSpec:
    """Validate an InferenceService ``spec`` and apply the CRD defaults. Raises :class:`InvalidSpec`.

    A rollout strategy not in ``strategies`` (the ones the operator runs) is refused after its spec was checked.
    """
    if not isinstance(spec, Mapping):
        raise InvalidSpec("spec is missing")
    model = spec.get("model")
    if not isinstance(model, Mapping):
        raise InvalidSpec("spec.model is required ({name, alias} or {name, version})")
    name = model.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSpec("spec.model.name is required")
    alias = model.get("alias")
    version = model.get("version")
    if (alias is None) == (version is None):
        raise InvalidSpec("set exactly one of spec.model.alias or spec.model.version")
    if alias is not None and (not isinstance(alias, str) or not _ALIAS.match(alias)):
        raise InvalidSpec(f"spec.model.alias {alias!r} is not a valid alias (letters, digits, _ and -)")
    if version is not None:
        version = str(version)
        if not _VERSION.match(version):
            raise InvalidSpec(f'spec.model.version {version!r} must be a positive integer such as "3"')
    protocol = spec.get("protocol", "v2")
    if protocol not in ("v1", "v2"):
        raise InvalidSpec(f"spec.protocol {protocol!r} must be v1 or v2")
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 100:
        raise InvalidSpec(f"spec.replicas {replicas!r} must be an integer from 0 to 100")
    try:
        rollout = parse_rollout_spec(spec.get("rollout"), where="spec.rollout")
    except InvalidRolloutSpec as exc:
        raise InvalidSpec(str(exc)) from None
    if rollout.strategy not in strategies:
        raise InvalidSpec(
            f"spec.rollout.strategy {rollout.strategy!r} is not supported by this operator yet "
            f"({', '.join(strategies)})"
        )
    if rollout.analysed and alias is None:
        raise InvalidSpec(
            f"spec.rollout.strategy {rollout.strategy} needs spec.model.alias (the alias a promotion moves, e.g. "
            "champion; the candidate is the model's challenger alias), not a pinned spec.model.version"
        )
    registry = spec.get("registry") or None
    if registry is not None and not isinstance(registry, str):
        raise InvalidSpec("spec.registry must be the name of a ModelRegistry")
    return ServiceSpec(
        model=ModelRef(name=name, alias=alias, version=version),
        registry=registry,
        protocol=protocol,
        replicas=replicas,
        resources=_resources(spec.get("resources")),
        rollout=rollout,
    )

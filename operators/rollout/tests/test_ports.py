"""Every model server pod the operator renders declares HTTP on 8080 and gRPC on 8081, the ports it binds.

Goes through :func:`modelship_operator.reconcile.desired_children` (what the reconciler applies) for both targets,
so a new child kind or a new renderer is covered without editing this file.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from modelship_operator.reconcile import desired_children
from modelship_operator.render import PodConfig, Resolved
from modelship_operator.settings import OperatorSettings, Target
from modelship_operator.spec import parse_spec

RESOLVED = Resolved(version="7", source="models:/m-1", tracking_uri="http://mlflow:5000")
HTTP_NAMES = {"http", "http1"}  # http1: KServe's (Knative's) name for an HTTP/1.1 port
GRPC_NAMES = {"grpc"}
SPECS = [
    {"model": {"name": "penguins", "alias": "champion"}},
    {"model": {"name": "digits-fast", "version": "3"}, "protocol": "v1", "replicas": 0},
    {"model": {"name": "digits-fast", "alias": "champion"}, "replicas": 3, "resources": {"limits": {"cpu": "1"}}},
]
PODS = [
    PodConfig(),
    PodConfig(image="reg.example/serving:2", env={"EXTRA": "1"}, env_from_secret="s3", service_account="sa"),
]


def _children(target: Target, spec: dict[str, Any], pod: PodConfig) -> list[dict[str, Any]]:
    op = SimpleNamespace(settings=OperatorSettings(target=target), pod=pod)
    return desired_children(op, "m", "ml", parse_spec(spec), RESOLVED)  # type: ignore[arg-type]


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod templates of a rendered object (a Deployment's template, a KServe predictor's inlined PodSpec)."""
    spec = obj.get("spec") or {}
    found = []
    if "containers" in ((spec.get("template") or {}).get("spec") or {}):
        found.append(spec["template"]["spec"])
    for component in ("predictor", "transformer", "explainer"):
        if "containers" in (spec.get(component) or {}):
            found.append(spec[component])
    return found


def _model_servers(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for o in objs for pod in _pod_specs(o) for c in pod["containers"] if "--model-uri" in c.get("args", [])]


def assert_declares_both_ports(container: dict[str, Any]) -> None:
    from modelship_serving.server import build_parser

    ports = {p["containerPort"]: p for p in container.get("ports") or []}
    assert 8080 in ports and ports[8080]["name"] in HTTP_NAMES, f"no http port 8080 declared: {ports}"
    assert 8081 in ports and ports[8081]["name"] in GRPC_NAMES, f"no grpc port 8081 declared: {ports}"
    assert all(p.get("protocol", "TCP") == "TCP" for p in ports.values())
    # The server binds what the pod declares (parsed with the model server's own command line).
    args = build_parser().parse_args(container["args"])
    assert (args.http_port, args.grpc_port, args.enable_grpc) == (8080, 8081, True)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in (8080, ports[8080]["name"]), probe


@pytest.mark.parametrize("target", list(Target))
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("pod", PODS)
def test_every_model_server_declares_http_8080_and_grpc_8081(target: Target, spec: dict, pod: PodConfig) -> None:
    servers = _model_servers(_children(target, spec, pod))
    assert servers, f"target {target}: no model server container found in the rendered children"
    for container in servers:
        assert_declares_both_ports(container)


@pytest.mark.parametrize("spec", SPECS)
def test_deployment_target_service_exposes_both_ports(spec: dict) -> None:
    children = _children(Target.deployment, spec, PodConfig())
    (service,) = [o for o in children if o["kind"] == "Service"]
    (container,) = _model_servers(children)
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    exposed = {p["name"]: p for p in service["spec"]["ports"]}
    assert declared[exposed["http"]["targetPort"]] == exposed["http"]["port"] == 8080
    assert declared[exposed["grpc"]["targetPort"]] == exposed["grpc"]["port"] == 8081
    assert exposed["grpc"]["appProtocol"] == "kubernetes.io/h2c"


def test_the_check_is_not_vacuous() -> None:
    (container,) = _model_servers(_children(Target.deployment, SPECS[0], PodConfig()))
    without_grpc = {**container, "ports": [p for p in container["ports"] if p["containerPort"] != 8081]}
    with pytest.raises(AssertionError, match="grpc"):
        assert_declares_both_ports(without_grpc)
    disabled = {**container, "args": [*container["args"], "--enable_grpc", "false"]}
    with pytest.raises(AssertionError):
        assert_declares_both_ports(disabled)
    other_port = {**container, "args": [*container["args"], "--grpc_port", "9000"]}
    with pytest.raises(AssertionError):
        assert_declares_both_ports(other_port)

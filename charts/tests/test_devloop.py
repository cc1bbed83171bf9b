"""skaffold.yaml, k8s/kind-config.yaml and scripts/e2e-kind.sh agree with the chart (offline checks)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from charts.tests.conftest import REPO, Helm
from charts.tests.manifests import containers, env_map, one, workloads

SKAFFOLD = yaml.safe_load((REPO / "skaffold.yaml").read_text())
RELEASE = SKAFFOLD["deploy"]["helm"]["releases"][0]
DEPLOYABLES = {"serving", "gateway", "training", "operator", "streaming", "mlflow"}


def test_one_artifact_per_deployable_built_from_the_repo_root() -> None:
    assert SKAFFOLD["apiVersion"].startswith("skaffold/v4beta")
    artifacts = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
    assert {f"modelship/{d}" for d in DEPLOYABLES} <= set(artifacts)
    for image, artifact in artifacts.items():
        assert artifact.get("context", ".") == ".", image
        assert (REPO / artifact["docker"]["dockerfile"]).is_file(), f"{image}: {artifact['docker']['dockerfile']}"


def test_the_helm_release_needs_no_dependency_build_and_reads_values_dev() -> None:
    assert RELEASE["chartPath"] == "charts/modelship"
    assert RELEASE["skipBuildDependencies"] is True
    assert "values-dev.yaml" in RELEASE["valuesFiles"]
    assert "values-dev.yaml" in (REPO / ".gitignore").read_text().split()


def test_set_value_templates_reach_every_image(helm: Helm) -> None:
    templates: dict[str, str] = RELEASE["setValueTemplates"]
    sets = []
    for key, template in templates.items():
        m = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_modelship_(\w+)\}\}", template)
        assert m, f"{key}: {template}"
        kind, name = m.groups()
        sets.append(f"{key}={'skaffold.example/modelship/' + name if kind == 'REPO' else 'sha-' + name}")
    objs = helm.render(sets=tuple(sets))
    images = {c["image"] for _, spec in workloads(objs) for _, c in containers(spec)}
    for name in ("gateway", "training", "operator"):
        assert f"skaffold.example/modelship/{name}:sha-{name}" in images, sorted(images)
    operator = one(objs, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0]
    assert env_map(operator)["MODELSHIP_SERVING_IMAGE"]["value"] == "skaffold.example/modelship/serving:sha-serving"
    mlflow_images = [i for i in images if "/modelship/mlflow" in i]
    assert mlflow_images == ["skaffold.example/modelship/mlflow:sha-mlflow"], sorted(images)


def test_port_forwards_match_the_contract_services() -> None:
    forwards = {(f["resourceName"], f["port"]) for f in SKAFFOLD["portForward"]}
    name = RELEASE["name"]
    assert forwards == {
        (f"{name}-gateway", 8000),
        (f"{name}-mlflow", 5000),
        (f"{name}-grafana", 3000),
        (f"{name}-prometheus", 9090),
        (f"{name}-minio", 9001),
    }


def test_kind_and_minikube_profiles_do_not_push() -> None:
    profiles: dict[str, Any] = {p["name"]: p for p in SKAFFOLD["profiles"]}
    assert set(profiles) >= {"kind", "minikube"}
    for profile in profiles.values():
        patches = profile.get("patches") or []
        assert {"op": "add", "path": "/build/local/push", "value": False} in patches, profile["name"]
    kind = yaml.safe_load((REPO / "k8s" / "kind-config.yaml").read_text())
    assert kind["kind"] == "Cluster" and [n["role"] for n in kind["nodes"]] == ["control-plane"]
    assert {"kubeContext": f"kind-{kind['name']}"} in profiles["kind"]["activation"]


def test_e2e_script_is_valid_bash_and_builds_what_skaffold_builds() -> None:
    script = REPO / "scripts" / "e2e-kind.sh"
    text = script.read_text()
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "set -euo pipefail" in text
    built = dict(re.findall(r'^\s+"(\w+):(-[^"]+)"$', text, re.MULTILINE))
    assert set(built) == DEPLOYABLES
    for artifact in SKAFFOLD["build"]["artifacts"]:
        docker = artifact["docker"]
        how = ["--target", docker["target"]] if "target" in docker else ["-f", docker["dockerfile"]]
        for arg, value in docker.get("buildArgs", {}).items():
            how += ["--build-arg", f"{arg}={value}"]
        assert built[artifact["image"].removeprefix("modelship/")].split() == how, artifact["image"]
        if "target" in docker:
            assert docker["dockerfile"] == "Dockerfile", artifact["image"]

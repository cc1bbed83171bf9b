"""Offline checks of the umbrella chart: lint, render matrix, schema, conventions, secrets, CRDs."""

from __future__ import annotations

import base64
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from charts.tests.conftest import (
    APP_SUBCHARTS,
    CHART,
    CI_VALUES,
    INFRA_SUBCHARTS,
    LIBRARY,
    REPO,
    SUBCHART_CI_VALUES,
    Helm,
    docs,
    run,
)
from charts.tests.manifests import containers, env_map, find, one, pod_labels, pod_spec, ref, workloads

CI_IDS = [p.name for p in CI_VALUES]
CHARTS = ["modelship", *INFRA_SUBCHARTS, *APP_SUBCHARTS]
BUILTIN_GROUPS = (
    "",
    "v1",
    "apps/v1",
    "batch/v1",
    "rbac.authorization.k8s.io/v1",
    "policy/v1",
    "networking.k8s.io/v1",
    "autoscaling/v2",
    "storage.k8s.io/v1",
)
SECRETISH = re.compile(r"(password|secret|token|apikey|api_key|privatekey)$", re.IGNORECASE)
KNOWN_DEFAULT_PASSWORDS = ("changeme", "minioadmin", "prom-operator", "admin123", "password123", "postgres123")


def is_builtin(obj: dict[str, Any]) -> bool:
    api = obj.get("apiVersion", "")
    return api in BUILTIN_GROUPS


@pytest.fixture(scope="module", params=CI_VALUES, ids=CI_IDS)
def ci_values(request: pytest.FixtureRequest) -> Path:
    return request.param


# ----------------------------------------------------------------------------------------------- structure


def test_every_ci_values_file_is_in_the_matrix() -> None:
    names = {p.name for p in CI_VALUES}
    assert {
        "default-values.yaml",
        "operator-disabled-values.yaml",
        "minimal-values.yaml",
        "kserve-values.yaml",
        "test-values.yaml",
    } <= names


def test_dependencies_point_at_the_unpacked_subcharts() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert set(deps) >= {*INFRA_SUBCHARTS, *APP_SUBCHARTS}
    for name, dep in deps.items():
        sub = yaml.safe_load((CHART / "charts" / name / "Chart.yaml").read_text())
        assert dep["repository"] == f"file://charts/{name}"
        if sub.get("type") == "library":  # renders nothing: nothing to turn off
            assert "condition" not in dep, name
        else:
            assert dep["condition"] == f"{name}.enabled"
        assert sub["name"] == name
        # Helm drops an unpacked subchart from the condition handling when its version is outside the range.
        assert str(sub["version"]) == str(dep["version"]), (
            f"{name}: Chart.yaml pins {dep['version']}, subchart is {sub['version']}"
        )
    assert not list((CHART / "charts").glob("*.tgz")), "packed subcharts next to the unpacked ones: delete the .tgz"


SUBCHARTS = (*INFRA_SUBCHARTS, *APP_SUBCHARTS)
# Helpers every chart needs: defined once, in the library, never again in a subchart's _helpers.tpl.
LIBRARY_HELPERS = ("name", "fullname", "chart", "selectorLabels", "serviceAccountName", "image", "imageTag")
# Helpers of these names that really are the subchart's own.
OWN_HELPERS = {
    "mlflow.image": "the modelship-built MLflow image: a tag of its own (never global.image.tag), image.registry",
    "serving.selectorLabels": "per model (name modelship-serving, instance = the model), as the operator labels them",
}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_library_chart_is_a_library() -> None:
    lib = yaml.safe_load((CHART / "charts" / LIBRARY / "Chart.yaml").read_text())
    assert (lib["name"], lib["type"]) == (LIBRARY, "library")
    assert LIBRARY in {d["name"] for d in yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"]}


@pytest.mark.parametrize("chart", SUBCHARTS)
def test_subchart_depends_on_the_vendored_library(chart: str) -> None:
    """Each subchart declares modelship-lib and carries the packed copy Helm reads (its own charts/ directory),
    with exactly the files of charts/modelship-lib: after changing the library, run charts/vendor-lib.sh."""
    root = CHART / "charts" / chart
    lib = yaml.safe_load((CHART / "charts" / LIBRARY / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in yaml.safe_load((root / "Chart.yaml").read_text()).get("dependencies") or []}
    assert deps.get(LIBRARY) == {"name": LIBRARY, "version": lib["version"], "repository": f"file://../{LIBRARY}"}
    packed = sorted((root / "charts").glob("*.tgz"))
    assert [p.name for p in packed] == [f"{LIBRARY}-{lib['version']}.tgz"], packed
    with tarfile.open(packed[0]) as tar:
        vendored = {
            m.name.removeprefix(f"{LIBRARY}/"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    source = _files(CHART / "charts" / LIBRARY)
    # helm package writes Chart.yaml out again (its own key order and quoting): compared as YAML
    assert yaml.safe_load(vendored.pop("Chart.yaml")) == yaml.safe_load(source.pop("Chart.yaml")), chart
    assert vendored == source, (
        f"charts/{chart}/charts/{packed[0].name} differs from charts/{LIBRARY}: run charts/vendor-lib.sh"
    )


@pytest.mark.parametrize("chart", SUBCHARTS)
def test_shared_helpers_are_not_copied_into_subcharts(chart: str) -> None:
    helpers = (CHART / "charts" / chart / "templates" / "_helpers.tpl").read_text()
    copied = [h for h in LIBRARY_HELPERS if f'define "{chart}.{h}"' in helpers and f"{chart}.{h}" not in OWN_HELPERS]
    assert copied == [], f"charts/{chart}: use modelship-lib.{copied[0]} instead"


def test_crds_are_byte_for_byte_copies_of_k8s_crds() -> None:
    source = {p.name: p.read_bytes() for p in (REPO / "k8s" / "crds").glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert source, "k8s/crds/ holds no CRD"
    assert shipped.keys() == source.keys(), "charts/modelship/crds/ must hold exactly the files of k8s/crds/"
    for name, data in source.items():
        assert shipped[name] == data, f"charts/modelship/crds/{name} differs from k8s/crds/{name}: copy it again"


def _comment_gaps(path: Path) -> list[str]:
    """Keys of a values.yaml without a `# --` comment directly above them (list items are data: not checked)."""
    gaps: list[str] = []
    stack: list[tuple[int, str]] = []
    commented = False
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            commented = False
            continue
        if line.lstrip().startswith("#"):
            commented = commented or line.lstrip().startswith("# --")
            continue
        m = re.match(r"^(\s*)(- )?([A-Za-z0-9_.-]+)?:?", line)
        indent = len(m.group(1)) if m else 0
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if m and m.group(2):
            stack.append((indent, "[]"))
        elif m and m.group(3) and ":" in line:
            stack.append((indent, m.group(3)))
            if not commented and "[]" not in (k for _, k in stack):
                gaps.append(f"{path}:{lineno} {'.'.join(k for _, k in stack)}")
        commented = False
    return gaps


@pytest.mark.parametrize("chart", ["modelship", *APP_SUBCHARTS])
def test_values_have_a_comment_on_every_key_and_a_schema_header(chart: str) -> None:
    path = CHART / "values.yaml" if chart == "modelship" else CHART / "charts" / chart / "values.yaml"
    assert path.read_text().startswith("# yaml-language-server: $schema=values.schema.json\n")
    assert _comment_gaps(path) == []


@pytest.mark.parametrize("chart", ["modelship", *APP_SUBCHARTS])
def test_schema_describes_every_property(chart: str) -> None:
    path = CHART / "values.schema.json" if chart == "modelship" else CHART / "charts" / chart / "values.schema.json"
    schema = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    missing: list[str] = []

    def walk(node: dict[str, Any], where: str) -> None:
        for key, sub in (node.get("properties") or {}).items():
            if "description" not in sub:
                missing.append(f"{where}.{key}")
            walk(sub, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema, "")
    assert missing == []
    values = yaml.safe_load((path.parent / "values.yaml").read_text())
    jsonschema.validate(values, schema)


# -------------------------------------------------------------------------------------------- render matrix


def test_lint_strict(helm: Helm, ci_values: Path) -> None:
    done = run([helm.binary, "lint", "--strict", str(CHART), "-f", str(ci_values)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("chart", APP_SUBCHARTS)
def test_app_subcharts_lint_on_their_own(helm: Helm, chart: str) -> None:
    done = run([helm.binary, "lint", "--strict", str(CHART / "charts" / chart)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# Subcharts without a `helm test` pod, and why.
WITHOUT_HELM_TEST = {"streaming": "a Kafka consumer without a Service: nothing for a test pod to call"}


@pytest.mark.parametrize("chart", SUBCHARTS)
def test_every_subchart_has_an_install_matrix_and_a_helm_test(chart: str) -> None:
    root = CHART / "charts" / chart
    assert sorted((root / "ci").glob("*-values.yaml")), f"charts/{chart}/ci/*-values.yaml: none"
    if chart not in WITHOUT_HELM_TEST:
        assert sorted((root / "templates" / "tests").glob("*.yaml")), f"charts/{chart}/templates/tests/: no test pod"


@pytest.mark.parametrize(
    "values", SUBCHART_CI_VALUES, ids=[f"{p.parent.parent.name}/{p.name}" for p in SUBCHART_CI_VALUES]
)
def test_subchart_lints_and_renders_on_its_own_with_its_ci_values(helm: Helm, values: Path) -> None:
    chart = values.parent.parent
    done = run([helm.binary, "lint", "--strict", str(chart), "-f", str(values)], check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    objs = helm.render(values, chart=chart)
    names = [ref(o) + "@" + str(o["metadata"].get("namespace", "")) for o in objs]
    assert len(names) == len(set(names)), "duplicate objects rendered"


def test_helm_test_pods_follow_the_conventions(all_objects: list[dict[str, Any]]) -> None:
    """Every `helm test` pod, umbrella or subchart: restartPolicy Never, deleted once it passed, no API token, and
    a read-only root filesystem (resources, non-root and pinned images: the checks above). Every subchart has one in
    its own ci/ renders."""
    problems: set[str] = set()
    seen: set[str] = set()
    for obj in all_objects:
        ann = obj["metadata"].get("annotations") or {}
        if obj["kind"] != "Pod" or ann.get("helm.sh/hook") != "test":
            continue
        seen.add(obj["__chart__"])
        spec = obj["spec"]
        where = _where(obj)
        if spec.get("restartPolicy") != "Never":
            problems.add(f"{where}: restartPolicy must be Never")
        if "hook-succeeded" not in ann.get("helm.sh/hook-delete-policy", ""):
            problems.add(f"{where}: not deleted once it passed (hook-delete-policy hook-succeeded)")
        if spec.get("automountServiceAccountToken") is not False:
            problems.add(f"{where}: mounts an API token")
        for _, c in containers(spec):
            if (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                problems.add(f"{where}/{c['name']}: root filesystem not read-only")
    assert not problems, "\n".join(sorted(problems))
    missing = set(SUBCHARTS) - set(WITHOUT_HELM_TEST) - seen
    assert not missing, f"no helm test pod rendered for {sorted(missing)}"


def test_template_renders(render: Any, ci_values: Path) -> None:
    objs = render(ci_values)
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "Service", "ServiceAccount"} <= kinds
    names = [ref(o) + "@" + str(o["metadata"].get("namespace", "")) for o in objs]
    assert len(names) == len(set(names)), "duplicate objects rendered"


def test_builtin_manifests_pass_kubernetes_validate(render: Any, ci_values: Path) -> None:
    """Every built-in object against Kubernetes 1.33's strict schemas (kubernetes-validate's ``validate``, in
    process: its CLI would re-parse the manifest and start an interpreter per values file). A kind without a schema
    fails too (the CLI only warns)."""
    import kubernetes_validate

    objs = [o for o in render(ci_values) if is_builtin(o)]
    assert objs
    problems = []
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, "1.33.0", strict=True)
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{ref(obj)}: {'.'.join(str(p) for p in e.path)}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{ref(obj)}: {e.message}")
    assert problems == []


def _crd_schema(plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((REPO / "k8s" / "crds" / f"{plural}.modelship.io.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    return version["schema"]["openAPIV3Schema"]


def _strip_k8s_extensions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_k8s_extensions(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_strip_k8s_extensions(v) for v in node]
    return node


def test_custom_resources_match_their_crd_schema(render: Any, ci_values: Path) -> None:
    schemas = {"InferenceService": _crd_schema("inferenceservices"), "ModelRegistry": _crd_schema("modelregistries")}
    for obj in render(ci_values):
        if obj["apiVersion"] == "modelship.io/v1alpha1":
            jsonschema.validate(obj, _strip_k8s_extensions(schemas[obj["kind"]]))
            if obj["kind"] == "InferenceService":
                model = obj["spec"]["model"]
                assert ("alias" in model) != ("version" in model), f"{ref(obj)}: exactly one of alias/version"


# ------------------------------------------------------------------------------------------ schema rejects

BAD_VALUES = {
    "unknown-top-level-key": "gatway:\n  enabled: true\n",
    "latest-tag": "global:\n  image:\n    tag: latest\n",
    "bad-model-name": "models:\n  - name: Penguins_1\n    version: '1'\n",
    "model-without-alias-or-version": "models:\n  - name: penguins\n",
    "bad-protocol": "models:\n  - name: penguins\n    alias: champion\n    protocol: v3\n",
    "bad-operator-target": "operator:\n  target: knative\n",
    "negative-gateway-replicas": "gateway:\n  replicaCount: -1\n",
    "unknown-gateway-key": "gateway:\n  replicas: 2\n",
    "bad-discovery-source": "gateway:\n  discovery:\n    source: consul\n",
    "bad-training-command": "training:\n  cronJob:\n    command: everything\n",
}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_schema_rejects_bad_values(helm: Helm, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BAD_VALUES[name])
    done = helm.template(path, check=False)
    assert done.returncode != 0, f"{name} was accepted"
    assert "schema" in done.stderr, done.stderr


def test_operator_disabled_alias_only_fails_with_a_clear_message(helm: Helm, tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text("operator:\n  enabled: false\nmodels:\n  - name: penguins\n    alias: champion\n")
    done = helm.template(path, check=False)
    assert done.returncode != 0
    assert "only an alias" in done.stderr and "pin a `version`" in done.stderr, done.stderr


def test_latest_tag_on_one_subchart_is_refused(helm: Helm) -> None:
    done = helm.template(sets=("training.image.tag=latest",), check=False)
    assert done.returncode != 0
    assert "/image/tag" in done.stderr or "pinned" in done.stderr, done.stderr


# -------------------------------------------------------------------------------------------- conventions


def _owned(objs: list[dict[str, Any]], chart: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["__chart__"] == chart]


@pytest.fixture(scope="module")
def all_objects(helm: Helm) -> list[dict[str, Any]]:
    """Every object of every ci/*-values.yaml render, tagged with the (sub)chart whose template made it: the
    umbrella's matrix, then each subchart alone with each of its own ci/*-values.yaml."""
    out: list[dict[str, Any]] = []
    for values in CI_VALUES:
        for chart, obj in helm.render_sources(values):
            out.append({**obj, "__chart__": chart, "__values__": values.name})
    for values in SUBCHART_CI_VALUES:
        chart = values.parent.parent
        for obj in helm.render(values, chart=chart):
            out.append({**obj, "__chart__": chart.name, "__values__": f"{chart.name}/ci/{values.name}"})
    return out


def _where(obj: dict[str, Any]) -> str:
    return f"{obj['__values__']}: {ref(obj)}"


@pytest.mark.parametrize("chart", CHARTS)
def test_every_container_has_resources_probes_non_root_and_a_pinned_image(
    all_objects: list[dict[str, Any]], chart: str
) -> None:
    problems: set[str] = set()
    for obj, spec in workloads(_owned(all_objects, chart)):
        pod_sc = spec.get("securityContext") or {}
        if not spec.get("serviceAccountName") or spec["serviceAccountName"] == "default":
            problems.add(f"{_where(obj)}: no own ServiceAccount")
        for key, c in containers(spec):
            where = f"{_where(obj)}/{c['name']}"
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(part) or {}):
                    problems.add(f"{where}: resources.{part} needs cpu and memory")
            sc = c.get("securityContext") or {}
            if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                problems.add(f"{where}: runAsNonRoot is not set")
            if (sc.get("runAsUser", pod_sc.get("runAsUser")) or 1) == 0:
                problems.add(f"{where}: runs as uid 0")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.add(f"{where}: allowPrivilegeEscalation must be false")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                problems.add(f"{where}: capabilities.drop must include ALL")
            image = c["image"]
            if "@sha256:" not in image:
                tag = image.rsplit("/", 1)[-1].partition(":")[2]
                if not tag or tag == "latest":
                    problems.add(f"{where}: image {image} is not pinned")
            if key == "containers" and c.get("ports"):
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in c:
                        problems.add(f"{where}: a server without {probe}")
    assert not problems, "\n".join(sorted(problems))


@pytest.mark.parametrize("chart", CHARTS)
def test_labels_are_app_kubernetes_io_and_selectors_name_plus_instance(
    all_objects: list[dict[str, Any]], chart: str
) -> None:
    problems: set[str] = set()
    pair = {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    for obj in _owned(all_objects, chart):
        labels = obj["metadata"].get("labels") or {}
        foreign = [k for k in labels if not k.startswith("app.kubernetes.io/")]
        if foreign:
            problems.add(f"{_where(obj)}: labels {foreign}")
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            if key not in labels:
                problems.add(f"{_where(obj)}: no {key} label")
        if pod_spec(obj) is not None:
            foreign = [k for k in pod_labels(obj) if not k.startswith("app.kubernetes.io/")]
            if foreign:
                problems.add(f"{_where(obj)}: pod labels {foreign}")
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            selector = obj["spec"]["selector"]["matchLabels"]
            if set(selector) != pair:
                problems.add(f"{_where(obj)}: selector {sorted(selector)}")
        service_selector = obj["spec"].get("selector") if obj["kind"] == "Service" else None
        if service_selector and set(service_selector) != pair:
            problems.add(f"{_where(obj)}: selector {sorted(service_selector)}")
    assert not problems, "\n".join(sorted(problems))


@pytest.mark.parametrize("chart", CHARTS)
def test_every_server_pod_has_prometheus_annotations(all_objects: list[dict[str, Any]], chart: str) -> None:
    problems: set[str] = set()
    for obj, _ in workloads(_owned(all_objects, chart)):
        if obj["kind"] in ("Job", "CronJob", "Pod"):
            continue
        ann = (obj["spec"]["template"]["metadata"].get("annotations")) or {}
        if "prometheus.io/scrape" not in ann:
            problems.add(f'{_where(obj)}: no prometheus.io/scrape annotation ("false" when there is nothing to scrape)')
        elif ann["prometheus.io/scrape"] == "true" and not {"prometheus.io/port", "prometheus.io/path"} <= set(ann):
            problems.add(f"{_where(obj)}: prometheus.io/scrape without port and path")
    assert not problems, "\n".join(sorted(problems))


# ------------------------------------------------------------------------------------------------ secrets


def _secretish_literals(node: Any, where: str, out: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and SECRETISH.search(k) and isinstance(v, str | int) and str(v) != "":
                out.append(f"{where}.{k}")
            _secretish_literals(v, f"{where}.{k}", out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _secretish_literals(v, f"{where}[{i}]", out)


def test_no_password_literal_in_values_files() -> None:
    files = [CHART / "values.yaml", *CI_VALUES, *(CHART / "charts" / c / "values.yaml" for c in APP_SUBCHARTS)]
    out: list[str] = []
    for path in files:
        _secretish_literals(yaml.safe_load(path.read_text()), str(path), out)
    assert out == []


def test_no_password_literal_in_rendered_manifests(helm: Helm, ci_values: Path) -> None:
    first, second = helm.template(ci_values).stdout, helm.template(ci_values).stdout
    for word in KNOWN_DEFAULT_PASSWORDS:
        assert word not in first.lower(), f"a well-known default password ({word}) is rendered"
    objs_a, objs_b = docs(first), docs(second)
    problems: list[str] = []
    for a, b in zip(objs_a, objs_b, strict=True):
        if a["kind"] == "Secret":
            assert not a.get("stringData"), f"{ref(a)}: stringData puts the value in clear text"
            for key, value in (a.get("data") or {}).items():
                # Generated values differ from one render to the next; a literal would not.
                if SECRETISH.search(key.replace("-", "")) and value == (b.get("data") or {}).get(key):
                    problems.append(f"{ref(a)}: data.{key} is the same on every render (a literal?)")
                if SECRETISH.search(key.replace("-", "")) and len(base64.b64decode(value)) < 16:
                    problems.append(f"{ref(a)}: data.{key} is shorter than 16 bytes")
            continue
        if a["kind"] == "ConfigMap":
            _secretish_literals(a.get("data") or {}, ref(a), problems)
        for obj, spec in workloads([a]):
            for _, c in containers(spec):
                for name, env in env_map(c).items():
                    if SECRETISH.search(name) and "value" in env:
                        problems.append(f"{ref(obj)}/{c['name']}: env {name} is a literal value")
                    if "value" in env and re.search(r"://[^:/@\s]+:[^@$\s]+@", str(env["value"])):
                        problems.append(f"{ref(obj)}/{c['name']}: env {name} holds credentials in a URL")
    assert problems == []


# ---------------------------------------------------------------------------------------- the app objects


def test_gateway_composes_the_database_url_from_the_postgresql_secret(render: Any) -> None:
    objs = render(CHART / "ci" / "default-values.yaml")
    gateway = one(objs, "Deployment", "r-gateway")
    c = gateway["spec"]["template"]["spec"]["containers"][0]
    env = env_map(c)
    names = [e["name"] for e in c["env"]]
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "r-postgresql", "key": "password"}
    assert env["DATABASE_USERNAME"]["valueFrom"]["secretKeyRef"] == {"name": "r-postgresql", "key": "username"}
    assert env["MODELSHIP_DATABASE_URL"]["value"] == (
        "postgresql+psycopg://$(DATABASE_USERNAME):$(DATABASE_PASSWORD)@r-postgresql:5432/modelship"
    )
    # $(VAR) only expands variables defined earlier in the list.
    assert names.index("DATABASE_PASSWORD") < names.index("MODELSHIP_DATABASE_URL")
    assert env["MODELSHIP_MLFLOW_TRACKING_URI"]["value"] == "http://r-mlflow:5000"
    assert env["MODELSHIP_DISCOVERY_DIR"]["value"] == "/etc/modelship/endpoints"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    service = one(objs, "Service", "r-gateway")
    assert service["spec"]["ports"][0]["port"] == 8000


def test_mlflow_webhook_secrets_are_encrypted_with_one_kept_fernet_key(render: Any) -> None:
    """Every MLflow worker reads the same key, so a webhook created through one worker is readable by all."""
    from cryptography.fernet import Fernet

    objs = render(CHART / "ci" / "default-values.yaml")
    secret = one(objs, "Secret", "r-mlflow-webhooks")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    key = base64.b64decode(secret["data"]["encryptionKey"])
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"hook secret")) == b"hook secret"
    server = one(objs, "Deployment", "r-mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert env_map(server)["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "r-mlflow-webhooks",
        "key": "encryptionKey",
    }
    own = render(CHART / "ci" / "default-values.yaml", sets=("mlflow.webhooks.existingSecret=mine",))
    assert not find(own, "Secret", "r-mlflow-webhooks")
    server = one(own, "Deployment", "r-mlflow")["spec"]["template"]["spec"]["containers"][0]
    assert env_map(server)["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "mine"


@pytest.mark.parametrize(("log_format", "json_lines"), [("", True), ("json", True), ("auto", True), ("text", False)])
def test_mlflow_logs_json_lines_unless_the_platform_logs_text(render: Any, log_format: str, json_lines: bool) -> None:
    """global.logFormat reaches MLflow too: its image's uvicorn log config, and MLflow's loggers left to it."""
    objs = render(CHART / "ci" / "default-values.yaml", sets=(f"global.logFormat={log_format}",))
    server = one(objs, "Deployment", "r-mlflow")["spec"]["template"]["spec"]["containers"][0]
    log_config = "--uvicorn-opts=--log-config=/opt/mlflow-logging/logging.json"
    assert (log_config in server["args"]) is json_lines
    configure = env_map(server).get("MLFLOW_CONFIGURE_LOGGING")
    assert configure == ({"name": "MLFLOW_CONFIGURE_LOGGING", "value": "false"} if json_lines else None)


@pytest.mark.parametrize("workload", ["r-gateway", "r-streaming"])
def test_discovery_watches_the_inferenceservices_with_a_read_only_role(render: Any, workload: str) -> None:
    """Default (operator on): Kubernetes discovery, the pod's token, get/list/watch on InferenceServices only."""
    objs = render(CHART / "ci" / "default-values.yaml")
    spec = one(objs, "Deployment", workload)["spec"]["template"]["spec"]
    env = env_map(spec["containers"][0])
    assert env["MODELSHIP_DISCOVERY"]["value"] == "kubernetes"
    assert env["MODELSHIP_KUBERNETES_NAMESPACE"]["value"] == "ns"
    assert spec["automountServiceAccountToken"] is True
    assert one(objs, "ServiceAccount", workload)["automountServiceAccountToken"] is False
    role = one(objs, "Role", workload)
    assert role["metadata"]["namespace"] == "ns"
    assert role["rules"] == [
        {"apiGroups": ["modelship.io"], "resources": ["inferenceservices"], "verbs": ["get", "list", "watch"]}
    ]
    binding = one(objs, "RoleBinding", workload)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": workload}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": spec["serviceAccountName"], "namespace": "ns"}]
    assert not [b for b in find(objs, "ClusterRoleBinding") if spec["serviceAccountName"] in str(b["subjects"])]
    # Nothing to read from files: the InferenceServices are the source.
    assert not find(objs, "ConfigMap", "r-model-endpoints")


def test_operator_disabled_adds_the_endpoint_files(render: Any) -> None:
    objs = render(CHART / "ci" / "operator-disabled-values.yaml")
    endpoints = one(objs, "ConfigMap", "r-model-endpoints")
    assert yaml.safe_load(endpoints["data"]["penguins.json"]) == {
        "name": "penguins",
        "url": "http://penguins-predictor.ns.svc:8080",
        "protocol": "v2",
    }
    for workload in ("r-gateway", "r-streaming"):
        c = one(objs, "Deployment", workload)["spec"]["template"]["spec"]["containers"][0]
        assert env_map(c)["MODELSHIP_DISCOVERY_DIR"]["value"] == "/etc/modelship/endpoints"


def test_file_discovery_needs_no_token_and_no_role(render: Any, helm: Helm) -> None:
    objs = render(sets=("gateway.discovery.source=files", "streaming.discovery.source=files"))
    one(objs, "ConfigMap", "r-model-endpoints")
    assert not find(objs, "Role", "r-gateway") and not find(objs, "Role", "r-streaming")
    for workload in ("r-gateway", "r-streaming"):
        spec = one(objs, "Deployment", workload)["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False
        env = env_map(spec["containers"][0])
        assert env["MODELSHIP_DISCOVERY"]["value"] == "files" and "MODELSHIP_KUBERNETES_NAMESPACE" not in env
    done = helm.template(sets=("gateway.discovery.source=files", "gateway.discovery.enabled=false"), check=False)
    assert done.returncode != 0 and "discovery.source=files reads the endpoint-files ConfigMap" in done.stderr


def test_contract_service_names(render: Any) -> None:
    services = {o["metadata"]["name"]: o for o in find(render(CHART / "ci" / "default-values.yaml"), "Service")}
    expected = {
        "r-postgresql": [5432],
        "r-minio": [9000, 9001],
        "r-mlflow": [5000],
        "r-kafka": [9092],
        "r-prometheus": [9090],
        "r-grafana": [3000],
        "r-gateway": [8000],
        "r-operator": [8082, 8081],
    }
    for name, ports in expected.items():
        assert name in services, f"Service {name} is part of the cross-chart contract"
        assert set(ports) <= {p["port"] for p in services[name]["spec"]["ports"]}, name


def test_operator_disabled_renders_pinned_predictors(render: Any) -> None:
    objs = render(CHART / "ci" / "operator-disabled-values.yaml")
    assert not find(objs, "InferenceService") and not find(objs, "ModelRegistry")
    assert not find(objs, "Deployment", "r-operator")
    deploy = one(objs, "Deployment", "penguins-predictor")
    assert deploy["spec"]["replicas"] == 2
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert c["args"][:4] == ["--model-uri", "models:/penguins/1", "--model_name", "penguins"]
    assert "--http_port" in c["args"] and c["args"][c["args"].index("--http_port") + 1] == "8080"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/models/penguins/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    ann = deploy["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/port"] == "8080" and ann["prometheus.io/path"] == "/metrics"
    digits = one(objs, "Deployment", "digits-fast-predictor")
    assert "models:/digits-fast/3" in digits["spec"]["template"]["spec"]["containers"][0]["args"]
    svc = one(objs, "Service", "penguins-predictor")
    assert {p["port"] for p in svc["spec"]["ports"]} == {8080, 8081}
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]


def test_operator_enabled_renders_one_inferenceservice_per_model(render: Any) -> None:
    objs = render(CHART / "ci" / "kserve-values.yaml")
    services = {o["metadata"]["name"]: o for o in find(objs, "InferenceService")}
    assert set(services) == {"penguins", "digits-balanced"}
    assert services["penguins"]["spec"]["model"] == {"name": "penguins", "alias": "champion"}
    assert not find(objs, "Deployment", "penguins-predictor")
    registry = one(objs, "ModelRegistry", "r")
    assert registry["spec"]["trackingUri"] == "http://r-mlflow:5000"
    assert registry["spec"]["selector"] == {"tag": "modelship.io/serve", "value": "true"}
    assert registry["spec"]["alias"] == "champion" and registry["spec"]["pollSeconds"] == 30


def _rules(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for o in find(objs, kind) for r in o["rules"]]


def test_operator_deployment_and_least_rbac(render: Any) -> None:
    objs = render(CHART / "ci" / "default-values.yaml")
    deploy = one(objs, "Deployment", "r-operator")
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"] == {"type": "Recreate"}
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == [
        "kopf",
        "run",
        "-m",
        "modelship_operator.handlers",
        "--liveness=http://0.0.0.0:8080/healthz",
        "--all-namespaces",
    ]
    env = env_map(c)
    assert env["MODELSHIP_SERVING_IMAGE"]["value"] == "modelship/serving:0.1.0"
    assert env["MODELSHIP_TARGET"]["value"] == "deployment"
    assert env["MODELSHIP_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "r-operator-webhook",
        "key": "secret",
    }
    assert env["MODELSHIP_WEBHOOK_URL"]["value"] == "http://r-operator.ns.svc:8082/webhooks/mlflow"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"health": 8080, "metrics": 8081, "webhook": 8082}
    one(objs, "Secret", "r-operator-webhook")
    rules = _rules(objs, "ClusterRole")
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                verbs.setdefault((group, resource), set()).update(rule["verbs"])
    assert verbs[("apps", "deployments")] == {"get", "list", "watch", "create", "patch", "delete"}
    assert ("serving.kserve.io", "inferenceservices") not in verbs
    # The deletes: the pre-delete hook removes the ModelRegistries while the operator still runs (uninstall.py), and
    # a finished Shadow/Canary rollout's candidate predictor (<name>-candidate: Deployment + Service) goes.
    assert verbs[("modelship.io", "modelregistries")] >= {"delete"}
    deletable = {("modelship.io", "modelregistries"), ("apps", "deployments"), ("", "services")}
    for (group, resource), v in verbs.items():
        deletes = "delete" in v and (group, resource) not in deletable
        assert not deletes and "*" not in v and resource != "secrets" and resource != "pods", (group, resource)
    assert env["MODELSHIP_DATABASE_URL"]["value"].endswith("@r-postgresql:5432/modelship")
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "r-postgresql", "key": "password"}
    kserve = render(CHART / "ci" / "kserve-values.yaml")
    cluster = {(g, r) for rule in _rules(kserve, "ClusterRole") for g in rule["apiGroups"] for r in rule["resources"]}
    assert cluster == {("apiextensions.k8s.io", "customresourcedefinitions")}
    namespaced = {(g, r) for rule in _rules(kserve, "Role") for g in rule["apiGroups"] for r in rule["resources"]}
    assert ("serving.kserve.io", "inferenceservices") in namespaced and ("apps", "deployments") not in namespaced
    kc = one(kserve, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0]
    assert "--namespace=ns" in kc["command"] and "--all-namespaces" not in kc["command"]


def test_training_jobs_are_hooks_and_the_cronjob_is_opt_in(render: Any, helm: Helm) -> None:
    objs = render(CHART / "ci" / "default-values.yaml")
    jobs = {o["metadata"]["name"]: o for o in find(objs, "Job") if o["metadata"]["name"].startswith("r-training")}
    assert set(jobs) == {"r-training-penguins", "r-training-digits"}
    for name, job in jobs.items():
        ann = job["metadata"]["annotations"]
        assert ann["helm.sh/hook"] == "post-install,post-upgrade"
        assert job["spec"]["backoffLimit"] == 3 and job["spec"]["ttlSecondsAfterFinished"] == 86400
        c = job["spec"]["template"]["spec"]["containers"][0]
        assert c["args"] == [name.removeprefix("r-training-")]
        assert env_map(c)["MODELSHIP_DATABASE_URL"]["value"].startswith("postgresql+psycopg://$(DATABASE_USERNAME)")
    assert not find(objs, "CronJob")
    assert not [
        j for j in find(render(CHART / "ci" / "minimal-values.yaml"), "Job") if "training" in j["metadata"]["name"]
    ]
    cron = helm.render(sets=("training.cronJob.enabled=true", "training.cronJob.suspend=true"))
    cronjob = one(cron, "CronJob", "r-training")
    assert cronjob["spec"]["suspend"] is True and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["all"]


def test_podmonitors_only_when_the_prometheus_operator_api_exists(render: Any) -> None:
    values = CHART / "ci" / "default-values.yaml"
    assert not find(render(values), "PodMonitor")
    monitors = {
        o["metadata"]["name"]: o
        for o in find(render(values, api_versions=("monitoring.coreos.com/v1/PodMonitor",)), "PodMonitor")
    }
    assert {"r-gateway", "r-operator", "r-model-servers"} <= set(monitors)
    assert monitors["r-model-servers"]["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/component": "predictor",
        "app.kubernetes.io/part-of": "modelship",
    }


def test_global_image_settings_reach_every_modelship_image(render: Any) -> None:
    objs = render(
        CHART / "ci" / "default-values.yaml",
        sets=("global.image.registry=registry.example/acme", "global.image.tag=1.2.3"),
    )
    images = {c["image"] for _, spec in workloads(objs) for _, c in containers(spec)}
    ours = {i for i in images if "/modelship/" in i}
    assert ours >= {
        "registry.example/acme/modelship/gateway:1.2.3",
        "registry.example/acme/modelship/operator:1.2.3",
        "registry.example/acme/modelship/training:1.2.3",
    }
    operator = one(objs, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0]
    assert env_map(operator)["MODELSHIP_SERVING_IMAGE"]["value"] == "registry.example/acme/modelship/serving:1.2.3"


def test_first_party_helm_test_pods_check_their_own_service(render: Any, helm: Helm) -> None:
    objs = render(CHART / "ci" / "default-values.yaml")
    gateway = env_map(one(objs, "Pod", "r-gateway-test")["spec"]["containers"][0])
    assert json.loads(gateway["CHECKS"]["value"]) == {
        "healthz": "http://r-gateway:8000/healthz",
        "readyz": "http://r-gateway:8000/readyz",
    }
    operator = env_map(one(objs, "Pod", "r-operator-test")["spec"]["containers"][0])
    assert json.loads(operator["CHECKS"]["value"]) == {"metrics": "http://r-operator:8081/metrics"}
    assert json.loads(one(objs, "Pod", "r-training-test")["spec"]["containers"][0]["env"][0]["value"]) == [
        "penguins",
        "digits",
    ]
    # The training test checks what the install trained: nothing without runOnInstall.
    assert not find(
        render(CHART / "ci" / "default-values.yaml", sets=("training.runOnInstall=false",)), "Pod", "r-training-test"
    )
    # The serving chart alone checks its own models.
    alone = helm.render(CHART / "charts" / "serving" / "ci" / "default-values.yaml", chart=CHART / "charts" / "serving")
    serving = env_map(one(alone, "Pod", "r-serving-test")["spec"]["containers"][0])
    assert json.loads(serving["CHECKS"]["value"]) == {
        "penguins": "http://penguins-predictor:8080/v2/models/penguins/ready"
    }


def test_helm_test_pod_checks_the_health_endpoints(render: Any) -> None:
    objs = render(CHART / "ci" / "default-values.yaml")
    pod = one(objs, "Pod", "r-test-endpoints")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    checks = yaml.safe_load(env_map(pod["spec"]["containers"][0])["CHECKS"]["value"])
    assert checks["gateway"] == "http://r-gateway:8000/readyz"
    assert checks["mlflow"] == "http://r-mlflow:5000/health"


# ------------------------------------------------------------------------------------- settings contracts

SETTINGS = {
    "r-gateway": "modelship_gateway.settings:GatewaySettings",
    "r-operator": "modelship_operator.settings:OperatorSettings",
    "r-training-penguins": "modelship_training.settings:TrainingSettings",
    "penguins-predictor": "modelship_serving.settings:ServingSettings",
    "r-streaming": "modelship_streaming.settings:StreamingSettings",
}


def test_every_modelship_env_var_is_a_settings_field(render: Any) -> None:
    """Each MODELSHIP_* variable the chart sets names a field of that service's pydantic-settings class."""
    import importlib

    objs = render(CHART / "ci" / "operator-disabled-values.yaml") + render(CHART / "ci" / "default-values.yaml")
    seen: set[str] = set()
    for obj, spec in workloads(objs):
        target = SETTINGS.get(obj["metadata"]["name"])
        if target is None or target in seen:
            continue
        seen.add(target)
        module, _, cls = target.partition(":")
        fields = set(getattr(importlib.import_module(module), cls).model_fields)
        for _, c in containers(spec):
            for name in env_map(c):
                if name.startswith("MODELSHIP_"):
                    field = name.removeprefix("MODELSHIP_").lower()
                    assert field in fields, f"{ref(obj)} sets {name}, but {cls} has no field {field}"
    assert seen == set(SETTINGS.values())


def test_predictor_args_parse_with_the_model_servers_own_parser(render: Any) -> None:
    from modelship_serving.server import build_parser

    deploy = one(render(CHART / "ci" / "operator-disabled-values.yaml"), "Deployment", "penguins-predictor")
    args = build_parser().parse_args(deploy["spec"]["template"]["spec"]["containers"][0]["args"])
    assert (args.model_uri, args.model_name, args.http_port, args.grpc_port) == (
        "models:/penguins/1",
        "penguins",
        8080,
        8081,
    )


def test_tracing_endpoint_reaches_gateway_worker_operator_and_model_servers(render: Any) -> None:
    """``global.tracing.otlpEndpoint`` turns traces on everywhere (the standard OTEL_* variables); unset, none."""
    import json

    endpoint = "http://otel-collector.observability:4318"
    objs = render(CHART / "ci" / "default-values.yaml", sets=(f"global.tracing.otlpEndpoint={endpoint}",))
    for name, service in (
        ("r-gateway", "modelship-gateway"),
        ("r-streaming", "modelship-streaming"),
        ("r-operator", "modelship-operator"),
    ):
        env = env_map(one(objs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0])
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint, name
        assert env["OTEL_SERVICE_NAME"]["value"] == service, name
    operator = env_map(one(objs, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0])
    serving_env = json.loads(operator["MODELSHIP_SERVING_ENV"]["value"])  # what the operator puts in serving pods
    assert serving_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    assert serving_env["OTEL_SERVICE_NAME"] == "modelship-serving"

    off = render(CHART / "ci" / "default-values.yaml")
    for _, spec in workloads(off):
        for _, c in containers(spec):
            assert not [n for n in env_map(c) if n.startswith("OTEL_")], c["name"]
    operator = env_map(one(off, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0])
    assert not [k for k in json.loads(operator["MODELSHIP_SERVING_ENV"]["value"]) if k.startswith("OTEL_")]


def test_tracing_endpoint_reaches_the_pinned_model_servers(render: Any) -> None:
    """Operator disabled: the serving subchart renders the model servers itself, with the same OTEL_* variables."""
    values = CHART / "ci" / "operator-disabled-values.yaml"
    endpoint = "http://otel-collector.observability:4318"
    container = one(
        render(values, sets=(f"global.tracing.otlpEndpoint={endpoint}",)), "Deployment", "penguins-predictor"
    )["spec"]["template"]["spec"]["containers"][0]
    env = env_map(container)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == endpoint
    assert env["OTEL_SERVICE_NAME"]["value"] == "modelship-serving"
    off = one(render(values), "Deployment", "penguins-predictor")["spec"]["template"]["spec"]["containers"][0]
    assert not [n for n in env_map(off) if n.startswith("OTEL_")]


def _modelship_containers(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(where, container) of every container running a modelship image that logs through modelship_common.logs
    (not the MLflow server's image, which runs MLflow, nor `helm test` pods, one-shot checks printing to stdout)."""
    out = []
    for obj, spec in workloads(objs):
        if obj["kind"] == "Pod" and "helm.sh/hook" in (obj["metadata"].get("annotations") or {}):
            continue
        for _, c in containers(spec):
            if "modelship/" in c["image"] and "/mlflow:" not in c["image"]:
                out.append((f"{ref(obj)}/{c['name']}", c))
    return out


@pytest.mark.parametrize(
    "values", ["default-values.yaml", "operator-disabled-values.yaml", "collector-values.yaml"], ids=lambda v: v
)
def test_global_log_format_reaches_every_modelship_container(render: Any, values: str) -> None:
    """``global.logFormat`` is MODELSHIP_LOG_FORMAT of every modelship process (the operator hands it to the model
    servers it creates); unset, none is rendered and the images' default (json) holds."""
    objs = render(CHART / "ci" / values, sets=("global.logFormat=text",))
    found = _modelship_containers(objs)
    names = {where.split("/")[1] for where, _ in found}
    assert {"r-gateway", "r-streaming"} <= names, names
    for where, c in found:
        assert env_map(c).get("MODELSHIP_LOG_FORMAT", {}).get("value") == "text", where
    if values == "operator-disabled-values.yaml":
        assert "penguins-predictor" in names
    else:
        operator = env_map(one(objs, "Deployment", "r-operator")["spec"]["template"]["spec"]["containers"][0])
        assert json.loads(operator["MODELSHIP_SERVING_ENV"]["value"])["MODELSHIP_LOG_FORMAT"] == "text"
        assert "r-operator-uninstall" in names
    if values == "collector-values.yaml":
        assert any(obj["kind"] == "CronJob" for obj in objs) and "r-training-collector" in names, names

    for where, c in _modelship_containers(render(CHART / "ci" / values)):
        assert "MODELSHIP_LOG_FORMAT" not in env_map(c), where


def test_a_log_format_other_than_json_text_auto_is_refused(helm: Any, tmp_path: Path) -> None:
    values = tmp_path / "bad-log-format.yaml"
    values.write_text("global:\n  logFormat: yaml\n")
    done = helm.template(values, check=False)
    assert done.returncode != 0 and "logFormat" in done.stderr, done.stderr

"""modelship on a real node, installed with `helm install` as the README tells users, checked with real pods.

The tests run in this file's order and share one release (the ``release`` fixture): install, workloads, training,
rollout, gateway, streaming, Prometheus, an alias move (webhook, then polling), ``helm test``, the no-restart check
two minutes after install, and ``helm uninstall`` last. Each prints the figures it measured (``-s`` or the report).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from PIL import Image

from charts.tests.manifests import leftovers
from devtools.cluster import Cluster, wait_for
from devtools.rollout_drive import Callers, canary_rollout, failures, log_penguins_version, penguins_rows, share

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

IMAGE_MODELS = ["digits-fast", "digits-balanced", "digits-accurate"]
SERVED = ["penguins", *IMAGE_MODELS]
# A Gentoo (bill 47.5 x 15.0 mm, flipper 218 mm, 5,400 g): every trained penguins model gets it right.
GENTOO = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 218,
    "body_mass_g": 5400,
    "sex": "male",
}
FIGURES: dict[str, Any] = {}


def report(name: str, value: Any) -> None:
    FIGURES[name] = value
    print(f"[e2e] {name}: {value}")


def _ready(obj: dict[str, Any]) -> bool:
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def test_workloads_available(cluster: Cluster, release: dict[str, float]) -> None:
    report("helm install --wait seconds", round(release["install_seconds"]))
    # The chart's own workloads; the model servers the operator rolls out are checked below.
    workloads = [
        w
        for w in cluster.json("get", "deployments,statefulsets")["items"]
        if w["metadata"]["name"].startswith("modelship-")
    ]
    names = sorted(w["metadata"]["name"] for w in workloads)
    for expected in [
        "modelship-gateway",
        "modelship-mlflow",
        "modelship-operator",
        "modelship-streaming",
        "modelship-postgresql",
        "modelship-minio",
        "modelship-kafka",
        "modelship-prometheus",
    ]:
        assert expected in names, f"{expected} not installed: {names}"
    for w in workloads:
        want = w["spec"].get("replicas", 1)
        assert w["status"].get("readyReplicas", 0) == want, f"{w['kind']} {w['metadata']['name']}: {w['status']}"
    pods = cluster.json("get", "pods", "--field-selector=status.phase=Running")["items"]
    for pod in pods:
        for cs in pod["status"]["containerStatuses"]:
            assert "running" in cs["state"], f"{pod['metadata']['name']}/{cs['name']}: {cs['state']}"
            # The image really ran: the runtime reports the image it started and a container id.
            assert cs["containerID"].startswith("containerd://"), cs
    report("running pods after install", len(pods))


def test_training_jobs_ran_and_registered(cluster: Cluster, release: dict[str, float]) -> None:
    jobs = {j["metadata"]["name"]: j for j in cluster.json("get", "jobs")["items"]}
    for task in ["penguins", "digits"]:
        job = jobs[f"modelship-training-{task}"]
        assert job["status"].get("succeeded") == 1, f"{task} Job did not complete: {job['status']}"
        start = job["status"]["startTime"]
        end = job["status"]["completionTime"]
        report(f"training {task} Job", f"{start} -> {end}")
    # The runs and the registry live in the in-cluster PostgreSQL (MLflow's backend store) ...
    models = dict(cluster.psql("SELECT name, count(*) FROM model_versions GROUP BY name", database="mlflow"))
    for name in SERVED:
        assert int(models.get(name, 0)) >= 1, f"no version of {name} in MLflow's PostgreSQL store: {models}"
    # ... the artifacts in the in-cluster MinIO (MLflow proxies mlflow-artifacts:/ to s3://mlflow/): every version's
    # model directory is an object prefix in MinIO's data directory ...
    sources = [row[0] for row in cluster.psql("SELECT storage_location FROM model_versions", database="mlflow")]
    prefix = "mlflow-artifacts:/"
    assert sources and all(s.startswith(prefix) for s in sources), sources
    stored = cluster.kubectl("exec", "modelship-minio-0", "--", "sh", "-c", "ls -d /data/mlflow/*/models/*").split()
    missing = {s for s in sources if "/data/mlflow/" + s[len(prefix) :].removesuffix("/artifacts") not in stored}
    assert not missing, f"not in MinIO: {missing} (MinIO has {stored})"
    report("model versions with artifacts in MinIO", len(sources))
    # ... and the training data rows in PostgreSQL.
    (count,) = cluster.psql("SELECT count(*) FROM penguins_raw")[0]
    assert int(count) >= 300, count
    report("penguins rows in PostgreSQL", int(count))


def test_operator_rolls_out_every_model(cluster: Cluster, release: dict[str, float]) -> None:
    def all_ready() -> list[dict[str, Any]] | None:
        items = cluster.json("get", "inferenceservices.modelship.io")["items"]
        names = {i["metadata"]["name"] for i in items}
        if set(SERVED) <= names and all(_ready(i) for i in items):
            return items
        return None

    t0 = time.monotonic()
    items = wait_for("an InferenceService Ready for every model", all_ready, timeout=600, interval=3)
    report("InferenceServices Ready after install (s)", round(time.monotonic() - t0))
    for isvc in items:
        status = isvc["status"]
        name = isvc["metadata"]["name"]
        # The pod serves the pinned version (never an alias); status.modelUri is where MLflow keeps it.
        assert status["modelUri"], status
        deployment = cluster.json("get", "deployment", f"{name}-predictor")
        args = " ".join(deployment["spec"]["template"]["spec"]["containers"][0].get("args", []))
        assert f"models:/{name}/{status['modelVersion']}" in args, args
        pods = cluster.json("get", "pods", "-l", f"app.kubernetes.io/instance={name}")["items"]
        ready = [p for p in pods if _ready(p)]
        assert ready, f"no Ready model-server pod for {name}: {[p['status'] for p in pods]}"
        logs = cluster.kubectl("logs", ready[0]["metadata"]["name"], "--tail=200")
        assert status["modelVersion"] in logs, logs[-1500:]


def test_gateway_lists_and_predicts(cluster: Cluster, release: dict[str, float]) -> None:
    with cluster.port_forward("svc/modelship-gateway", 8000) as url, httpx.Client(base_url=url, timeout=30) as http:
        models = wait_for(
            "every served model ready in GET /api/models",
            lambda: (lambda m: m if all(n in m and m[n]["ready"] for n in SERVED) else None)(
                {m["name"]: m for m in http.get("/api/models").json()}
            ),
            timeout=300,
        )
        report("GET /api/models", {n: (m["version"], m["ready"]) for n, m in models.items()})
        r = http.post("/api/models/penguins/predict", json={"instances": [GENTOO]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["predictions"][0]["class_name"] == "Gentoo", body
        report("penguins prediction through the gateway", body["predictions"][0])
    rows = cluster.psql(
        f"SELECT model_name, model_version, predicted_class FROM predictions WHERE request_id = '{body['request_id']}'"
    )
    assert rows == [["penguins", body["version"], "Gentoo"]], rows


def _digit_png(digit: int) -> bytes:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images[list(digits.target).index(digit)]
    img = Image.fromarray((pixels * 255 / 16).astype(np.uint8)).resize((28, 28), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_upload_flows_through_kafka_to_every_image_model(cluster: Cluster, release: dict[str, float]) -> None:
    with cluster.port_forward("svc/modelship-gateway", 8000) as url, httpx.Client(base_url=url, timeout=30) as http:
        t0 = time.monotonic()
        r = http.post("/api/images", files={"file": ("three.png", _digit_png(3), "image/png")})
        assert r.status_code == 202, r.text
        image_id = r.json()["id"]

        def three_rows() -> list[list[str]] | None:
            rows = cluster.psql(
                f"SELECT model_name, source FROM predictions WHERE request_id = '{image_id}' ORDER BY model_name"
            )
            return rows if len(rows) >= 3 else None

        rows = wait_for("three prediction rows for the uploaded image", three_rows, timeout=180, interval=1)
        report("upload -> 3 stored predictions (s)", round(time.monotonic() - t0, 1))
    assert sorted(r[0] for r in rows) == sorted(IMAGE_MODELS), rows
    (status,) = cluster.psql(f"SELECT status FROM images WHERE id = '{image_id}'")[0]
    assert status == "processed", status


def _collector_spans(log: str) -> list[dict[str, Any]]:
    """The spans in the log of the collector's debug exporter (verbosity detailed): trace and span ids, name, kind,
    start, the resource's and the span's own attributes (values as printed, e.g. ``Str(x)`` -> ``x``)."""
    spans: list[dict[str, Any]] = []
    resource: dict[str, str] = {}
    span: dict[str, Any] | None = None
    section = ""
    for line in log.splitlines():
        if "ResourceSpans #" in line:
            resource, span, section = {}, None, "resource"
        elif line.startswith("ScopeSpans #"):
            span, section = None, ""
        elif re.match(r"Span #\d+$", line):
            span = {"resource": resource, "attributes": {}}
            spans.append(span)
            section = "span"
        elif line.startswith("Attributes:"):
            section = "attributes" if span is not None else ""
        elif line.startswith(("Events:", "Links:")):
            section = ""
        elif span is not None and (m := re.match(r"\s+(Trace ID|Parent ID|ID|Name|Kind|Start time)\s+: ?(.*)$", line)):
            span[m[1]] = m[2].strip()
        elif m := re.match(r"\s+-> ([^:]+): \w+\((.*)\)$", line):
            if section == "resource":
                resource[m[1]] = m[2]
            elif section == "attributes" and span is not None:
                span["attributes"][m[1]] = m[2]
    return spans


def _service(span: dict[str, Any]) -> str:
    name = span["resource"].get("service.name", "?")
    model = span["resource"].get("modelship.model.name")
    return f"{name}[{model}]" if model else name


def test_upload_is_one_trace_in_the_collector(cluster: Cluster, release: dict[str, float], otel_collector: Any) -> None:
    """One upload through the gateway is one trace in the e2e's OpenTelemetry Collector (scripts/otelcol, its debug
    exporter prints every span it receives): gateway, worker and each image model's server share its trace id."""
    with cluster.port_forward("svc/modelship-gateway", 8000) as url, httpx.Client(base_url=url, timeout=30) as http:
        r = http.post("/api/images", files={"file": ("seven.png", _digit_png(7), "image/png")})
        assert r.status_code == 202, r.text
        image_id = r.json()["id"]
    wait_for(
        "three prediction rows for the uploaded image",
        lambda: len(cluster.psql(f"SELECT model_name FROM predictions WHERE request_id = '{image_id}'")) >= 3,
        timeout=180,
        interval=1,
    )

    def one_trace() -> list[dict[str, Any]]:
        spans = _collector_spans(otel_collector.log())
        sent = [
            s
            for s in spans
            if s["resource"].get("service.name") == "modelship-gateway"
            and s["attributes"].get("messaging.kafka.message.key") == image_id
        ]
        if not sent:
            seen = sorted({s["resource"].get("service.name", "?") for s in spans})
            raise ValueError(f"no gateway span sent image {image_id}: {len(spans)} spans in the log, from {seen}")
        trace = [s for s in spans if s["Trace ID"] == sent[0]["Trace ID"]]
        names = {s["resource"].get("service.name", "") for s in trace}
        models = {s["resource"].get("modelship.model.name") for s in trace if "modelship.model.name" in s["resource"]}
        if not {"modelship-gateway", "modelship-streaming"} <= names or not set(IMAGE_MODELS) <= models:
            raise ValueError(f"trace {sent[0]['Trace ID']} has spans of {sorted(map(_service, trace))} only")
        return trace

    trace = wait_for("one trace with the gateway's, the worker's and every model server's spans", one_trace, timeout=60)
    trace.sort(key=lambda s: s.get("Start time", ""))
    report("trace id of one upload", trace[0]["Trace ID"])
    report("its spans (service, kind, name)", [(_service(s), s.get("Kind"), s.get("Name")) for s in trace])
    servers = {s["resource"].get("modelship.model.name") for s in trace if s.get("Kind") == "Server"}
    assert set(IMAGE_MODELS) <= servers, f"a model server's SERVER span is missing: {servers}"
    assert any(_service(s) == "modelship-gateway" and s.get("Kind") == "Server" for s in trace), trace


def test_prometheus_scrapes_every_target(cluster: Cluster, release: dict[str, float]) -> None:
    with cluster.port_forward("svc/modelship-prometheus", 9090) as url, httpx.Client(base_url=url, timeout=30) as h:

        def all_up() -> list[dict[str, Any]] | None:
            targets = h.get("/api/v1/targets").json()["data"]["activeTargets"]
            pods = {t["labels"].get("pod", t["labels"].get("instance")) for t in targets}
            if (
                len(targets) >= 8
                and all(t["health"] == "up" for t in targets)
                and any(str(p).startswith("penguins") for p in pods)
            ):
                return targets
            return None

        targets = wait_for("every Prometheus target up", all_up, timeout=240, interval=5)
    report("Prometheus targets up", sorted({t["labels"].get("pod", t["scrapeUrl"]) for t in targets}))


def _mlflow(cluster: Cluster, url: str, fn: str, **kwargs: Any) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    return getattr(client, fn)(**kwargs)


def _model_id(version: Any) -> str | None:
    """The logged model a version was registered from (MLflow 3 needs it to register the same source again)."""
    source = str(version.source)
    return version.model_id or (source.removeprefix("models:/") if source.startswith("models:/m-") else None)


def _answering_version(http: httpx.Client) -> str | None:
    r = http.post("/api/models/penguins/predict", json={"instances": [GENTOO]})
    return r.json().get("version") if r.status_code == 200 else None


@pytest.mark.parametrize("trigger", ["webhook", "polling"])
def test_alias_move_rolls_out(cluster: Cluster, release: dict[str, float], trigger: str) -> None:
    with (
        cluster.port_forward("svc/modelship-mlflow", 5000) as mlflow_url,
        cluster.port_forward("svc/modelship-gateway", 8000) as gw,
        httpx.Client(base_url=gw, timeout=30) as http,
    ):
        hooks = _mlflow(cluster, mlflow_url, "list_webhooks")
        assert hooks, "the operator registered no MLflow webhook"
        # Each on a new connection, so that both MLflow workers answer: each must read the stored (encrypted) hooks.
        codes = [httpx.get(f"{mlflow_url}/api/2.0/mlflow/webhooks", timeout=30).status_code for _ in range(12)]
        assert set(codes) == {200}, codes
        for hook in hooks:
            _mlflow(
                cluster,
                mlflow_url,
                "update_webhook",
                webhook_id=hook.webhook_id,
                status="ACTIVE" if trigger == "webhook" else "DISABLED",
            )
        current = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="champion")
        # A new version of the same artifacts: what a retraining that wins the promotion policy registers.
        new = _mlflow(
            cluster,
            mlflow_url,
            "create_model_version",
            name="penguins",
            source=current.source,
            run_id=current.run_id,
            model_id=_model_id(current),
            tags={"modelship.io/e2e": trigger},
        )
        wait_for(
            "the new version READY in MLflow",
            lambda: (
                _mlflow(cluster, mlflow_url, "get_model_version", name="penguins", version=new.version).status
                == "READY"
            ),
            timeout=60,
            interval=0.5,
        )
        t0 = time.monotonic()
        _mlflow(
            cluster, mlflow_url, "set_registered_model_alias", name="penguins", alias="champion", version=new.version
        )
        wait_for(
            f"penguins v{new.version} answering through the gateway",
            lambda: _answering_version(http) == new.version,
            timeout=300,
            interval=0.5,
        )
        seconds = time.monotonic() - t0
        report(f"alias move -> v{new.version} answering through the gateway, {trigger} (s)", round(seconds, 1))
        isvc = cluster.json("get", "inferenceservices.modelship.io", "penguins")
        assert isvc["status"]["modelVersion"] == new.version, isvc["status"]
        assert any(h.get("version") == current.version for h in isvc["status"].get("history", [])), isvc["status"]


def test_model_registered_after_install_is_served_without_upgrade(cluster: Cluster, release: dict[str, float]) -> None:
    """A model registered after install gets an InferenceService from the operator, and the gateway lists it."""
    name = "penguins-late"
    with (
        cluster.port_forward("svc/modelship-mlflow", 5000) as mlflow_url,
        cluster.port_forward("svc/modelship-gateway", 8000) as gw,
        httpx.Client(base_url=gw, timeout=30) as http,
    ):
        penguins = _mlflow(cluster, mlflow_url, "get_registered_model", name="penguins")
        champion = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="champion")
        _mlflow(cluster, mlflow_url, "create_registered_model", name=name, tags=dict(penguins.tags))
        version = _mlflow(
            cluster,
            mlflow_url,
            "create_model_version",
            name=name,
            source=champion.source,
            run_id=champion.run_id,
            model_id=_model_id(champion),
        )
        wait_for(
            "the version READY",
            lambda: (
                _mlflow(cluster, mlflow_url, "get_model_version", name=name, version=version.version).status == "READY"
            ),
            timeout=60,
        )
        t0 = time.monotonic()
        _mlflow(cluster, mlflow_url, "set_registered_model_alias", name=name, alias="champion", version=version.version)

        def listed_ready() -> dict[str, Any] | None:
            models = {m["name"]: m for m in http.get("/api/models").json()}
            return models[name] if name in models and models[name]["ready"] else None

        model = wait_for(f"{name} listed ready by the gateway", listed_ready, timeout=300, interval=1)
        report(f"{name}: registered after install -> listed ready by the gateway (s)", round(time.monotonic() - t0, 1))
        assert model["version"] == version.version, model
        r = http.post(f"/api/models/{name}/predict", json={"instances": [GENTOO]})
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["class_name"] == "Gentoo", r.text
    isvc = cluster.json("get", "inferenceservices.modelship.io", name)
    assert _ready(isvc) and isvc["status"]["modelVersion"] == version.version, isvc["status"]


# Canary through 50 % then 100 % of callers, each step held for 40 candidate requests and 5 s, judged after 40 paired
# answers with the CRD's default gates, except a 50 ms latency grace (instead of 5 ms): on a 2-core node shared by
# every pod of the release, two model servers' p95 differ by more than 5 ms for reasons that are not the model's.
# The old champion stays warm 20 s after a promotion.
CANARY = canary_rollout(
    (50, 100), min_requests=40, min_duration="5s", min_samples=40, warm_duration="20s", latency_grace_ms=50
)
RETRAIN_JOB = "penguins-retrain"


def _rollout(cluster: Cluster) -> dict[str, Any]:
    return cluster.json("get", "inferenceservices.modelship.io", "penguins").get("status", {}).get("rollout") or {}


def _retrain_penguins_as_challenger(cluster: Cluster) -> None:
    """Run the release's penguins training Job again (its manifest from ``helm get hooks``), with a promotion margin
    no F1 can meet: the promotion policy registers the retrained version as ``challenger``."""
    hooks = [h for h in yaml.safe_load_all(cluster.helm("get", "hooks", cluster.release).stdout) if h]
    job = next(h for h in hooks if h["kind"] == "Job" and h["metadata"]["name"].endswith("-training-penguins"))
    job["metadata"] = {"name": RETRAIN_JOB, "namespace": cluster.namespace, "labels": job["metadata"].get("labels")}
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = [e for e in container.get("env", []) if e["name"] != "MODELSHIP_PROMOTION_MARGIN"]
    container["env"] = [*env, {"name": "MODELSHIP_PROMOTION_MARGIN", "value": "1.0"}]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(job))
    cluster.kubectl("wait", "--for=condition=complete", f"job/{RETRAIN_JOB}", "--timeout=900s", timeout=960)


def _cli(cluster: Cluster, *args: str) -> Any:
    """``modelship --kubeconfig ... -n modelship ARGS --json`` as a user runs it; its JSON."""
    cmd = [sys.executable, "-m", "modelship_cli", *args, "--kubeconfig", cluster.env["KUBECONFIG"], "-n"]
    out = subprocess.run([*cmd, cluster.namespace, "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_canary_promotes_a_retrained_challenger_and_rolls_back_a_bad_one(
    cluster: Cluster, release: dict[str, float]
) -> None:
    """Progressive delivery on the real node, from the training Job to the callers: the penguins InferenceService
    goes Canary; a retraining registered as ``challenger`` gets its candidate pod, takes 50 % then 100 % of callers
    through the gateway and is promoted; a version trained on shuffled labels is rolled back. No caller sees a
    failure throughout, and ``modelship history`` shows both decisions."""
    patch = json.dumps({"spec": {"rollout": CANARY}})
    cluster.kubectl("patch", "inferenceservices.modelship.io", "penguins", "--type=merge", "-p", patch)
    rows = penguins_rows()
    try:
        with (
            cluster.port_forward("svc/modelship-mlflow", 5000) as mlflow_url,
            cluster.port_forward("svc/modelship-gateway", 8000) as gw,
            Callers(gw, "penguins", rows, threads=2).running() as callers,
        ):
            champion = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="champion")
            _retrain_penguins_as_challenger(cluster)
            trained = time.monotonic()
            good = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="challenger")
            assert good.version != champion.version
            first = wait_for(
                f"the candidate v{good.version} answering callers",
                lambda: callers.first(good.version, since=trained),
                timeout=240,
                interval=0.5,
            )
            report("retrained challenger -> candidate answering callers (s)", round(first.at - trained, 1))
            step2 = wait_for(
                "the canary's second step (100 %)",
                lambda: (r := _rollout(cluster)).get("step") == 2 or r.get("phase") == "Promoted",
                timeout=300,
                interval=0.5,
            )
            # The gateway reads the routing each second, before the operator writes the step to the status.
            seen_step2 = time.monotonic() - 2.0
            at_half = [a for a in callers.answers(since=first.at) if a.at < seen_step2]
            half = share(at_half, good.version)
            report("candidate share of callers at the 50 % step", f"{half:.2f} over {len(at_half)} answers")
            assert step2 and 0.25 <= half <= 0.75, (half, len(at_half))

            promoted = wait_for(
                f"v{good.version} promoted",
                lambda: (r := _rollout(cluster)).get("phase") == "Promoted" and r.get("handedOver") and r,
                timeout=300,
                interval=1,
            )
            report("good candidate: rollout", {k: promoted.get(k) for k in ("id", "phase", "verdict", "reason")})
            now = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="champion")
            assert now.version == good.version
            wait_for(
                f"the main predictor serving v{good.version}",
                lambda: (
                    cluster.json("get", "inferenceservices.modelship.io", "penguins")["status"].get("modelVersion")
                    == good.version
                    and not _rollout(cluster).get("candidate")
                ),
                timeout=300,
            )

            bad = log_penguins_version(mlflow_url, "penguins", shuffle_labels=True, seed=7)
            moved = time.monotonic()
            _mlflow(cluster, mlflow_url, "set_registered_model_alias", name="penguins", alias="challenger", version=bad)
            wait_for(
                f"the bad candidate v{bad} answering callers",
                lambda: callers.first(bad, since=moved),
                timeout=240,
                interval=0.5,
            )
            rolled = wait_for(
                f"v{bad} rolled back",
                lambda: (
                    (r := _rollout(cluster)).get("candidateVersion") == bad and r.get("phase") == "RolledBack" and r
                ),
                timeout=300,
                interval=0.5,
            )
            back = time.monotonic()
            report("bad candidate: rollout", {k: rolled.get(k) for k in ("id", "phase", "verdict", "reason")})
            report("bad candidate: answers it gave callers", sum(a.version == bad for a in callers.answers(moved)))
            version = _mlflow(cluster, mlflow_url, "get_model_version", name="penguins", version=bad)
            assert version.tags.get("modelship.io/rollout-decision") == "rollback", version.tags
            assert "challenger" not in (version.aliases or []), version.aliases
            now = _mlflow(cluster, mlflow_url, "get_model_version_by_alias", name="penguins", alias="champion")
            assert now.version == good.version
            time.sleep(5)  # callers after the rollback: the champion alone answers (the gateway reads each second)
            after = [a for a in callers.answers(since=back + 2) if not a.failed]
            assert after and all(a.version == good.version for a in after), {a.version for a in after}
        answers = callers.answers()
        report("callers: requests, failures", (len(answers), len(failures(answers))))
        assert not failures(answers), failures(answers)[:5]

        history = _cli(cluster, "history", "penguins")
        actions = {(r["candidate_version"], d["action"]) for r in history["rollouts"] for d in r["decisions"]}
        assert (good.version, "promote") in actions and (bad, "rollback") in actions, history
    finally:
        cluster.kubectl("delete", "job", RETRAIN_JOB, "--ignore-not-found", "--wait=true", check=False)
        rolling = json.dumps({"spec": {"rollout": None}})
        cluster.kubectl("patch", "inferenceservices.modelship.io", "penguins", "--type=merge", "-p", rolling)


#: What the ``mlflow server`` command prints (not logs): the only lines of its pod that are not JSON.
MLFLOW_PRINTS = ("Registry store URI not provided.", "[MLflow] Security middleware enabled")


@pytest.mark.parametrize(("workload", "container"), [("modelship-mlflow", "mlflow"), ("modelship-gateway", "gateway")])
def test_logs_are_json_lines(cluster: Cluster, release: dict[str, float], workload: str, container: str) -> None:
    out = cluster.kubectl("logs", f"deploy/{workload}", "-c", container, "--tail=2000")
    lines = [line for line in out.splitlines() if line.strip() and not line.startswith(MLFLOW_PRINTS)]
    records, not_json = [], []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    report(f"{workload} log lines (JSON, not JSON)", (len(records), len(not_json)))
    assert records and not not_json, not_json[:10]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "uvicorn.access" for r in records), {r["logger"] for r in records}


def test_helm_test_passes(cluster: Cluster, release: dict[str, float]) -> None:
    # No --logs: the test pods are deleted once they succeed (hook-delete-policy), and helm then fails to fetch them.
    out = cluster.helm("test", cluster.release, "--timeout", "10m", timeout=700).stdout
    phases = re.findall(r"TEST SUITE:\s+(\S+)\n.*?Phase:\s+(\S+)", out, re.S)
    report("helm test", dict(phases))
    assert len(phases) >= 6 and all(phase == "Succeeded" for _, phase in phases), out


def test_no_container_restarted(cluster: Cluster, release: dict[str, float]) -> None:
    # Two minutes after install at the least: a crash loop would have restarted something by now.
    time.sleep(max(0.0, release["installed_at"] + 120 - time.monotonic()))
    restarts = {
        f"{p['metadata']['name']}/{cs['name']}": cs["restartCount"]
        for p in cluster.json("get", "pods")["items"]
        if p["status"].get("phase") == "Running"
        for cs in p["status"].get("containerStatuses", [])
    }
    assert restarts and not {k: v for k, v in restarts.items() if v}, restarts
    report("running containers with 0 restarts", len(restarts))


def test_helm_uninstall_leaves_only_what_is_meant_to_stay(cluster: Cluster, release: dict[str, float]) -> None:
    """Gone: every object of the release and what the operator made. Left: PVCs with the Secrets that open them
    (resource-policy keep), the finished training Jobs until their TTL, the CRDs."""
    cluster.helm("uninstall", cluster.release, "--wait", "--timeout", "5m", timeout=400)

    def gone() -> bool:
        left = leftovers(lambda kind, *args: cluster.json("get", kind, *args), cluster.namespace, cluster.release)
        if left:
            raise ValueError(f"still there: {left}")
        return True

    wait_for("every object of the release deleted", gone, timeout=180, interval=2)
    kept = {
        s["metadata"]["name"]
        for s in cluster.json("get", "secrets")["items"]
        if (s["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep"
    }
    assert {f"{cluster.release}-postgresql", f"{cluster.release}-minio", f"{cluster.release}-mlflow-webhooks"} <= kept
    pvcs = cluster.json("get", "pvc")["items"]
    assert pvcs, "the PersistentVolumeClaims were deleted with the release"
    crds = json.loads(cluster.kubectl("get", "crd", "-o", "json"))["items"]
    assert {"inferenceservices.modelship.io", "modelregistries.modelship.io"} <= {c["metadata"]["name"] for c in crds}
    report("left after helm uninstall", sorted(p["metadata"]["name"] for p in pvcs))
    print("[e2e] figures:", json.dumps(FIGURES, indent=1, default=str))

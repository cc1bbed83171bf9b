"""Rollout latency of the rollout operator on a real node: from moving the ``champion`` alias in MLflow to
(a) the operator starting the rollout (``status.modelVersion`` of the InferenceService names the new version) and
(b) the InferenceService ``Ready=True`` on it, which on a real kubelet means the new model server pod loaded the
model and passed its readiness probe. Measured by polling only and with the MLflow webhook.

Everything is real and local: the node of ``scripts/k8s/node.sh`` (kubelet, containerd, CNI bridge; the one
``make e2e`` uses, started if it is not up and stopped again at the end), the modelship/serving image of
``make images`` imported into it, two ``mlflow server`` processes on the bridge's host address (the pods download
the artifacts from there), the CRDs of ``k8s/crds`` and the operator as a ``kopf run -m modelship_operator.handlers
--all-namespaces`` subprocess authenticated as its ServiceAccount (``operators/rollout/deploy/rbac.yaml``).

- polling: this MLflow has its default webhook settings, so it refuses the operator's ``http://`` private
  webhook URL and only the registry's poll notices the alias move. The ModelRegistry leaves ``pollSeconds`` at
  the CRD default (30), what users get. The alias is moved at a random moment of the poll cycle, so the worst
  case of the reaction is pollSeconds plus one sync.
- webhook: this MLflow (>= 3.3) allows http/private webhook URLs and caches its webhook list for 1 s
  (``MLFLOW_WEBHOOK_CACHE_TTL``); the operator registers its HMAC-signed webhook itself
  (``MODELSHIP_WEBHOOK_URL`` + ``MODELSHIP_WEBHOOK_SECRET``).

Targets: the reaction within 5 s (webhook) or pollSeconds + 5 s (polling); Ready within the reaction target plus
60 s for the new pod (start, model download and load, readiness probe). The alias alternates between two
registered versions; the API is read every 0.1 s. Prints a Markdown table with PASS/FAIL against the targets
(every run within the target). Takes about 6-10 minutes with the defaults once the node is up.

    python -m devtools.bench_rollout [--poll-runs 3] [--webhook-runs 5] [--poll-seconds N] [--check]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from devtools import servers
from devtools.bench import verdict
from devtools.cluster import Cluster, local_node, refuse_other_operators
from devtools.procs import LOCALHOST, Proc, ProcGroup, ServerError, free_port, poll_until, start, tail

REPO = servers.REPO_ROOT
CRDS = REPO / "k8s" / "crds"
RBAC = REPO / "operators" / "rollout" / "deploy" / "rbac.yaml"
OPERATOR_NS = "modelship-system"
GROUP, VERSION = "modelship.io", "v1alpha1"
SERVING_IMAGE = "modelship/serving:0.1.0"  # what `make images` builds (scripts/images/build.sh)
ALIAS = "champion"
TARGET_WEBHOOK_S = 5.0
SYNC_BUDGET_S = 5.0  # polling: pollSeconds + one sync
POD_BUDGET_S = 60.0  # a new model server pod: start, download and load the model, pass the readiness probe
DEFAULT_POLL_SECONDS = 30  # k8s/crds/modelregistries.modelship.io.yaml: spec.pollSeconds default
POLL_INTERVAL_S = 0.1
BENCH_NAMESPACES = ("bench-polling", "bench-webhook")


def log(msg: str) -> None:
    print(f"[bench-rollout] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devtools.bench_rollout", description="operator rollout latency")
    p.add_argument("--name", default="e2e", help="node name (scripts/k8s/node.sh --name; default e2e, make e2e's)")
    p.add_argument("--state-dir", type=Path, default=servers.cache_dir() / "bench-rollout")
    p.add_argument("--poll-runs", type=int, default=3, help="alias moves measured by polling (default 3)")
    p.add_argument("--webhook-runs", type=int, default=5, help="alias moves measured with the webhook (default 5)")
    p.add_argument(
        "--poll-seconds",
        type=int,
        default=None,
        help=f"spec.pollSeconds of the polling registry (default: unset, the CRD default {DEFAULT_POLL_SECONDS})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random alias-move moments (polling)")
    p.add_argument("--check", action="store_true", help="exit 1 when any row FAILs")
    return p.parse_args(argv)


# ------------------------------------------------------------------------------------------------ cluster


def node_host_ip() -> str:
    """The host's address on the node's bridge (node.sh: the first address of MODELSHIP_NODE_POD_CIDR)."""
    cidr = os.environ.get("MODELSHIP_NODE_POD_CIDR", "10.244.0.0/24")
    return str(next(ipaddress.ip_network(cidr).hosts()))


def service_account_kubeconfig(cluster: Cluster, where: Path) -> Path:
    """A kubeconfig with a token of the operator's ServiceAccount (the RBAC of deploy/rbac.yaml)."""
    cluster.ensure_namespace(OPERATOR_NS)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(RBAC))
    token = cluster.kubectl("create", "token", "modelship-operator", "-n", OPERATOR_NS, "--duration=2h").strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    entry = admin["clusters"][0]["cluster"]
    if "certificate-authority" in entry:
        ca = Path(entry["certificate-authority"])
        ca = ca if ca.is_absolute() else cluster.kubeconfig.parent / ca
        entry = {
            "server": entry["server"],
            "certificate-authority-data": base64.b64encode(ca.read_bytes()).decode(),
        }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": entry}],
        "users": [{"name": "modelship-operator", "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "modelship-operator"}}],
        "current-context": "bench",
    }
    where.mkdir(parents=True, exist_ok=True)
    path = where / "operator-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def custom_objects(kubeconfig: Path) -> Any:
    """A CustomObjectsApi for the admin kubeconfig (fast reads; kubectl would cost ~100 ms per poll)."""
    import kubernetes
    from kubernetes.client import ApiClient, Configuration, CustomObjectsApi

    configuration = Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return CustomObjectsApi(ApiClient(configuration))


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return {}


# ------------------------------------------------------------------------------------------------- MLflow


def start_mlflow(state: Path, *, webhooks: bool) -> Proc:
    """``mlflow server`` (SQLite, served artifacts) on the bridge's host address, so the model server pods reach
    it; ``webhooks`` lets it call an http:// operator on 127.0.0.1."""
    (state / "artifacts").mkdir(parents=True, exist_ok=True)
    host, port = node_host_ip(), free_port()
    extra = {"MLFLOW_WEBHOOK_CACHE_TTL": "1"}
    if webhooks:
        extra |= {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
    argv = [
        str(servers.VENV_BIN / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
        "--artifacts-destination", str(state / "artifacts"),
        "--serve-artifacts", "--host", host, "--port", str(port), "--workers", "1",
        "--allowed-hosts", f"{host}:{port},{host}",
    ]  # fmt: skip
    url = f"http://{host}:{port}"
    proc = start("mlflow", argv, log_path=state / "mlflow.log", env=servers.server_env(extra), url=url, port=port)
    return proc


def register_versions(url: str, name: str, count: int = 2) -> list[str]:
    """Register ``count`` versions of a small penguins-shaped classifier (the tabular input the model server takes:
    the encoded penguins features, three classes) under ``name``, logged with MLflow's defaults; tags per
    docs/contracts.md; alias -> v1."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    from modelship_common.registry import CLASSES_TAG, FEATURES_TAG, SERVE_TAG, TASK_TAG
    from modelship_common.schemas import penguins

    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    mlflow.set_experiment(f"bench-{name}")
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    versions = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(90, penguins.N_FEATURES))
        y = np.argmax(x[:, : len(penguins.CLASSES)], axis=1)
        # MLflow prints run links on stdout: keep stdout for the table.
        with contextlib.redirect_stdout(sys.stderr), mlflow.start_run():
            info = mlflow.sklearn.log_model(
                LogisticRegression().fit(x, y),
                name="model",
                registered_model_name=name,
                pip_requirements=["scikit-learn"],
            )
        versions.append(str(info.registered_model_version))
    client.set_registered_model_tag(name, SERVE_TAG, "true")
    client.set_registered_model_tag(name, TASK_TAG, "tabular")
    client.set_registered_model_tag(name, CLASSES_TAG, json.dumps(list(penguins.CLASSES)))
    client.set_registered_model_tag(name, FEATURES_TAG, json.dumps(list(penguins.FEATURE_NAMES)))
    client.set_registered_model_alias(name, ALIAS, versions[0])
    return versions


# ----------------------------------------------------------------------------------------------- operator


def start_operator(operator_kubeconfig: Path, default_mlflow: str, state: Path) -> tuple[Proc, str]:
    """``kopf run`` as the integration tests start it (operator defaults for resync/retry/timeouts)."""
    health, metrics, webhook = free_port(), free_port(), free_port()
    env = servers.server_env(
        {
            "KUBECONFIG": str(operator_kubeconfig),
            "MODELSHIP_MLFLOW_TRACKING_URI": default_mlflow,
            "MODELSHIP_SERVING_IMAGE": SERVING_IMAGE,
            "MODELSHIP_SERVING_IMAGE_PULL_POLICY": "Never",  # imported by node.sh load; no registry here
            "MODELSHIP_METRICS_PORT": str(metrics),
            "MODELSHIP_WEBHOOK_PORT": str(webhook),
            "MODELSHIP_WEBHOOK_SECRET": f"bench-{random.SystemRandom().getrandbits(64):016x}",
            "MODELSHIP_WEBHOOK_URL": f"http://{LOCALHOST}:{webhook}/webhooks/mlflow",
        }
    )
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [
        str(servers.VENV_BIN / "kopf"), "run", "-m", "modelship_operator.handlers", "--all-namespaces",
        f"--liveness=http://{LOCALHOST}:{health}/healthz", "--verbose",
    ]  # fmt: skip
    proc = start(
        "operator", argv, log_path=state / "operator.log", env=env, url=f"http://{LOCALHOST}:{health}", port=health
    )
    return proc, f"http://{LOCALHOST}:{webhook}"


# -------------------------------------------------------------------------------------------------- bench


@dataclass
class Mode:
    name: str
    namespace: str
    mlflow: Proc
    model: str
    versions: list[str]
    poll_seconds: int | None = None
    reactions: list[float] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)

    @property
    def reaction_target(self) -> float:
        assert self.poll_seconds is not None
        return TARGET_WEBHOOK_S if self.name == "webhook" else self.poll_seconds + SYNC_BUDGET_S

    @property
    def ready_target(self) -> float:
        return self.reaction_target + POD_BUDGET_S


def get(api: Any, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client.exceptions import ApiException

    try:
        return api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def on_version(api: Any, mode: Mode, version: str, *, ready: bool) -> bool:
    """``status.modelVersion`` is ``version`` (the rollout started) and, with ``ready``, ``Ready=True`` too."""
    isvc = get(api, "inferenceservices", mode.namespace, mode.model)
    status = (isvc or {}).get("status") or {}
    return status.get("modelVersion") == version and (not ready or condition(isvc, "Ready").get("status") == "True")


def wait_on(api: Any, mode: Mode, version: str, timeout: float, operator: Proc, *, ready: bool = True) -> None:
    poll_until(
        lambda: on_version(api, mode, version, ready=ready),
        timeout=timeout,
        what=f"{mode.name}: {mode.model} {'Ready' if ready else 'rolling out'} on v{version}",
        interval=POLL_INTERVAL_S,
        max_interval=POLL_INTERVAL_S,
        alive=operator.exit_message,
    )


def setup_mode(cluster: Cluster, api: Any, mode: Mode, operator: Proc) -> None:
    cluster.ensure_namespace(mode.namespace)
    spec: dict[str, Any] = {"trackingUri": mode.mlflow.url}
    if mode.poll_seconds is not None:
        spec["pollSeconds"] = mode.poll_seconds
    cluster.apply(
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelRegistry",
            "metadata": {"name": "mlflow", "namespace": mode.namespace},
            "spec": spec,
        },
        field_manager="bench",
    )
    registry = get(api, "modelregistries", mode.namespace, "mlflow") or {}
    mode.poll_seconds = int(registry["spec"]["pollSeconds"])  # the CRD default when unset
    wait_on(api, mode, mode.versions[0], 300, operator)  # the first pod also starts the image's page cache
    if mode.name == "webhook":
        poll_until(
            lambda: ((get(api, "modelregistries", mode.namespace, "mlflow") or {}).get("status") or {}).get("webhook"),
            timeout=60,
            what="the operator to register its MLflow webhook",
            alive=operator.exit_message,
        )
    else:
        # The first sync tried (and failed) to register the webhook: from now on polling is all there is.
        status = (get(api, "modelregistries", mode.namespace, "mlflow") or {}).get("status") or {}
        if status.get("webhook"):
            raise RuntimeError("the polling MLflow accepted a webhook; the polling numbers would be wrong")
    log(f"{mode.name}: {mode.model} Ready on v{mode.versions[0]} (pollSeconds {mode.poll_seconds})")


def measure(api: Any, mode: Mode, runs: int, operator: Proc, rng: random.Random) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mode.mlflow.url, registry_uri=mode.mlflow.url)
    assert mode.poll_seconds is not None
    for i in range(runs):
        new = mode.versions[(i + 1) % len(mode.versions)]
        if mode.name == "polling":
            # Move the alias at a random point of the poll cycle (right after a Ready it would always land at
            # the same phase: just after a sync).
            time.sleep(rng.uniform(0, mode.poll_seconds))
        moved = time.monotonic()
        client.set_registered_model_alias(mode.model, ALIAS, new)
        wait_on(api, mode, new, mode.poll_seconds + 60, operator, ready=False)
        reaction = time.monotonic() - moved
        wait_on(api, mode, new, mode.ready_target + 120, operator)
        latency = time.monotonic() - moved
        mode.reactions.append(reaction)
        mode.samples.append(latency)
        log(f"{mode.name} run {i + 1}/{runs}: alias -> v{new}, rollout {reaction:.2f} s, Ready {latency:.2f} s")


def render(modes: list[Mode]) -> tuple[str, bool]:
    out = [
        "### alias `champion` moved in MLflow -> rollout started / InferenceService Ready on the new version"
        " (real node: the new pod loaded the model)",
        "",
        "| mode | step | runs | p50 s | max s | target | result | samples s |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    all_ok = True
    for m in modes:
        label = f"polling (pollSeconds {m.poll_seconds})" if m.name == "polling" else "webhook (MLflow, HMAC)"
        for step, samples, target in (
            ("rollout started", m.reactions, m.reaction_target),
            ("Ready", m.samples, m.ready_target),
        ):
            ok = bool(samples) and max(samples) <= target
            all_ok = all_ok and ok
            p50 = f"{statistics.median(samples):.2f}" if samples else "-"
            top = f"{max(samples):.2f}" if samples else "-"
            out.append(
                f"| {label} | {step} | {len(samples)} | {p50} | {top} | <= {target:g} s | "
                f"{verdict(ok, '' if samples else 'no run')} | {', '.join(f'{s:.2f}' for s in samples)} |"
            )
    return "\n".join(out), all_ok


def run(args: argparse.Namespace) -> int:
    state: Path = args.state_dir.expanduser().resolve()
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    rng = random.Random(args.seed)
    cluster: Cluster | None = None
    group = ProcGroup()
    operator: Proc | None = None
    try:
        # The node when it is up (``KEEP=1 make e2e``), else started here and stopped again at the end.
        cluster = local_node(args.name, [], env=servers.server_env())
        cluster.namespace = ""  # every call names its namespace (the bench's, the operator's) or is cluster-wide
        if cluster.started:
            log(f"node {args.name}: started")
        cluster.load([SERVING_IMAGE])  # a failure here still stops the node this run started (finally)
        refuse_other_operators(cluster)
        for namespace in BENCH_NAMESPACES:
            cluster.delete_namespace(namespace, timeout=180)  # of an earlier run on the same node
        mlflow_poll = group.add(start_mlflow(state / "mlflow-polling", webhooks=False))
        mlflow_hook = group.add(start_mlflow(state / "mlflow-webhook", webhooks=True))
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
        for crd in ("inferenceservices.modelship.io", "modelregistries.modelship.io"):
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
        sa_kubeconfig = service_account_kubeconfig(cluster, state)
        api = custom_objects(cluster.kubeconfig)

        for proc in (mlflow_poll, mlflow_hook):
            proc.wait_http("/health", timeout=120)
        log(f"mlflow: polling {mlflow_poll.url}, webhook {mlflow_hook.url}")
        modes = [
            Mode("polling", BENCH_NAMESPACES[0], mlflow_poll, "bench-poll", [], args.poll_seconds),
            Mode("webhook", BENCH_NAMESPACES[1], mlflow_hook, "bench-hook", [], None),
        ]
        for mode in modes:
            mode.versions = register_versions(str(mode.mlflow.url), mode.model)

        operator, webhook_url = start_operator(sa_kubeconfig, str(mlflow_hook.url), state)
        group.add(operator)
        operator.wait_http("/healthz", timeout=90)
        log(f"operator up (webhook server {webhook_url}); log {operator.log_path}")

        for mode in modes:
            setup_mode(cluster, api, mode, operator)
        measure(api, modes[1], args.webhook_runs, operator, rng)
        measure(api, modes[0], args.poll_runs, operator, rng)

        table, ok = render(modes)
        print(table, flush=True)
        return 0 if ok or not args.check else 1
    except (ServerError, TimeoutError, RuntimeError) as exc:
        if operator is not None:
            exc.add_note(f"--- operator log ---\n{tail(operator.log_path, 60)}")
        raise
    finally:
        log("deleting the bench namespaces; stopping the operator and MLflow servers")
        if cluster is not None:
            for namespace in BENCH_NAMESPACES:
                try:
                    cluster.delete_namespace(namespace, timeout=180)
                except RuntimeError as exc:
                    log(f"warning: {exc}")
        group.stop_all()
        if cluster is not None:
            try:  # the node is make e2e's: leave nothing a helm install of the chart would collide with
                cluster.kubectl("delete", "-f", str(RBAC), "--ignore-not-found", "--wait=true")
                cluster.delete_namespace(OPERATOR_NS, timeout=180)
            except RuntimeError as exc:
                log(f"warning: {exc}")
            try:
                cluster.stop_node()
            except RuntimeError as exc:
                log(f"warning: node down failed: {exc}")


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(args)
    except (ServerError, TimeoutError, RuntimeError) as exc:
        print(f"bench_rollout: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", ()):
            print(note, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

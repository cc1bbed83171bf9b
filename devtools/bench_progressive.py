"""Progressive delivery on a real node, as users run it: a Canary rollout judged on model quality, end to end.

The umbrella chart is installed with ``helm install`` on ``make e2e``'s node (started if it is not up; the e2e
values plus the minimal ones: no Kafka, no training on install), in namespace ``modelship-bench``, with the chart's
MLflow (its webhook on), PostgreSQL, MinIO, operator and gateway, all from ``make images``. From outside, through
``kubectl port-forward``, the bench then:

1. registers a penguins classifier fit on the real penguins rows as ``champion`` and waits until the gateway
   serves it;
2. sets the penguins InferenceService to Canary (50 % of callers for 1,100 candidate requests, then 100 % for 100;
   each step at least 5 s; 100 paired answers before any verdict; the CRD's default gates but a 20 ms latency
   grace);
3. registers the same artifacts again as ``challenger`` while callers keep sending penguins rows through the
   gateway, and times the first answer from the candidate (the MLflow webhook wakes the operator, which starts the
   candidate's pod; the pod loads the model; the gateway routes to it);
4. counts which version answered the first 2,000 callers from then on (the 50 % step), and waits for the promotion;
5. registers a classifier fit on shuffled labels as ``challenger`` and times from the moment its candidate had
   answered the minimum sample count to the rollback (the InferenceService's ``status.rollout.phase``);
6. counts every caller's failure over the whole run (HTTP status other than 200, or no answer).

Targets (issue: progressive delivery): candidate receiving canary traffic <= 30 s after the challenger is
registered; the split within +-5 % over 2,000 requests; the good candidate promoted after its steps; the bad one
rolled back <= 30 s after its minimum sample count; 0 failed requests. One run of each. Prints a Markdown table with
PASS/FAIL; ``--check`` makes a FAIL exit 1. Takes about 5-8 minutes once the node and the images are there.

    python -m devtools.bench_progressive [--check] [--keep]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import httpx

from devtools.bench import run_bench, verdict
from devtools.cluster import (
    CHART,
    E2E_VALUES,
    Cluster,
    clean_install,
    image_names,
    local_node,
    refuse_other_operators,
    wait_for,
)
from devtools.rollout_drive import Callers, canary_rollout, failures, log_penguins_version, penguins_rows, share

NAMESPACE = "modelship-bench"
MODEL = "penguins"
SPLIT_REQUESTS = 2000
WEIGHT = 50
TARGET_TRAFFIC_S = 30.0
TARGET_ROLLBACK_S = 30.0
SPLIT_TOLERANCE = 0.05
MIN_SAMPLES = 100
# The CRD's default gates but a 20 ms latency grace (default 5 ms): on this 2-core node the pods' p95 latencies
# differ by more than 5 ms from one moment to the next whatever the model.
LATENCY_GRACE_MS = 20
CANARY = canary_rollout(
    (WEIGHT, 100),
    min_requests=100,
    min_duration="5s",
    min_samples=MIN_SAMPLES,
    warm_duration="10s",
    latency_grace_ms=LATENCY_GRACE_MS,
)
# Hold the 50 % step until the split has been counted: 1,100 candidate requests is about 2,200 callers.
CANARY["canary"]["steps"][0]["minRequests"] = 1100


def log(msg: str) -> None:
    print(f"[bench-progressive] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--node", default="e2e", help="the scripts/k8s/node.sh node (default: make e2e's)")
    p.add_argument("--threads", type=int, default=4, help="caller threads (default 4)")
    p.add_argument("--check", action="store_true", help="exit 1 when a row FAILs")
    p.add_argument("--keep", action="store_true", help="leave the release installed")
    return p.parse_args(argv)


def register_champion(mlflow_url: str) -> str:
    from mlflow import MlflowClient

    from modelship_common.registry import CHAMPION, CLASSES_TAG, FEATURES_TAG, SERVE_TAG, TASK_TAG
    from modelship_common.schemas import penguins

    version = log_penguins_version(mlflow_url, MODEL, experiment="bench-progressive")
    client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    for key, value in (
        (SERVE_TAG, "true"),
        (TASK_TAG, "tabular"),
        (CLASSES_TAG, json.dumps(list(penguins.CLASSES))),
        (FEATURES_TAG, json.dumps(list(penguins.FEATURE_NAMES))),
    ):
        client.set_registered_model_tag(MODEL, key, value)
    client.set_registered_model_alias(MODEL, CHAMPION, version)
    return version


def same_artifacts_again(mlflow_url: str, version: str) -> str:
    """A new version of ``version``'s artifacts (what a retraining that changed nothing registers)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
    old = client.get_model_version(MODEL, version)
    source = str(old.source)
    model_id = old.model_id or (source.removeprefix("models:/") if source.startswith("models:/m-") else None)
    new = client.create_model_version(MODEL, source=source, run_id=old.run_id, model_id=model_id)
    ready = lambda: client.get_model_version(MODEL, new.version).status == "READY"  # noqa: E731
    wait_for("the new version READY", ready, timeout=60)
    return str(new.version)


def rollout_block(cluster: Cluster) -> dict[str, Any]:
    isvc = cluster.json("get", "inferenceservices.modelship.io", MODEL)
    return isvc.get("status", {}).get("rollout") or {}


def run(args: argparse.Namespace) -> int:
    rows: list[tuple[str, str, str, bool, str]] = []  # measure, value, target, ok, reason
    cluster = local_node(args.node, image_names())
    cluster.namespace = NAMESPACE
    refuse_other_operators(cluster)
    log(f"helm install of {CHART.name} in {NAMESPACE} (e2e + minimal values)")
    seconds = clean_install(cluster, [E2E_VALUES, CHART / "ci/minimal-values.yaml"], node=args.node, timeout_s=900)
    log(f"installed in {seconds:.0f} s")
    try:
        with (
            cluster.port_forward("svc/modelship-mlflow", 5000) as mlflow_url,
            cluster.port_forward("svc/modelship-gateway", 8000) as gw,
        ):
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=mlflow_url, registry_uri=mlflow_url)
            champion = register_champion(mlflow_url)
            callers = Callers(gw, MODEL, penguins_rows(), threads=args.threads)

            def serving_champion() -> bool:
                r = httpx.post(f"{gw}/api/models/{MODEL}/predict", json={"instances": [callers.rows[0]]}, timeout=10)
                return r.status_code == 200 and r.json().get("version") == champion

            wait_for(f"the gateway serving {MODEL} v{champion}", serving_champion, timeout=300, interval=1)
            patch = json.dumps({"spec": {"rollout": CANARY}})
            cluster.kubectl("patch", "inferenceservices.modelship.io", MODEL, "--type=merge", "-p", patch)
            good = same_artifacts_again(mlflow_url, champion)
            with callers.running():
                time.sleep(2)
                registered = time.monotonic()
                client.set_registered_model_alias(MODEL, "challenger", good)
                first = wait_for(
                    f"the candidate v{good} answering callers",
                    lambda: callers.first(good, since=registered),
                    timeout=300,
                    interval=0.2,
                )
                traffic_s = first.at - registered
                rows.append(
                    (
                        "challenger registered -> candidate answering callers (webhook)",
                        f"{traffic_s:.1f} s",
                        f"<= {TARGET_TRAFFIC_S:g} s",
                        traffic_s <= TARGET_TRAFFIC_S,
                        "too slow",
                    )
                )
                split = wait_for(
                    f"{SPLIT_REQUESTS} callers at the {WEIGHT} % step",
                    lambda: (a := callers.answers(since=first.at))[SPLIT_REQUESTS - 1 :] and a[:SPLIT_REQUESTS],
                    timeout=600,
                    interval=0.5,
                )
                step = rollout_block(cluster).get("step")
                got = share(split, good)
                ok = abs(got - WEIGHT / 100) <= SPLIT_TOLERANCE and step == 1
                rows.append(
                    (
                        f"candidate share of {SPLIT_REQUESTS:,} callers at the {WEIGHT} % step",
                        f"{got * 100:.1f} %",
                        f"{WEIGHT} +- {SPLIT_TOLERANCE * 100:g} %",
                        ok,
                        f"outside the band (step {step} when counted)",
                    )
                )
                t_split = time.monotonic()
                promoted = wait_for(
                    f"v{good} promoted and handed over",
                    lambda: (
                        (r := rollout_block(cluster)).get("phase") in ("Promoted", "RolledBack", "Aborted")
                        and (r.get("phase") != "Promoted" or r.get("handedOver"))
                        and r
                    ),
                    timeout=600,
                    interval=0.5,
                )
                ok = promoted.get("phase") == "Promoted"
                rows.append(
                    (
                        "good candidate promoted after its 2 steps",
                        f"{promoted.get('phase')} {time.monotonic() - t_split:.0f} s after the split was counted",
                        "Promoted",
                        ok,
                        str(promoted.get("reason")),
                    )
                )
                wait_for(
                    "the candidate predictor deleted after the warm window",
                    lambda: not rollout_block(cluster).get("candidate"),
                    timeout=300,
                )
                bad = log_penguins_version(
                    mlflow_url, MODEL, shuffle_labels=True, seed=7, experiment="bench-progressive"
                )
                moved = time.monotonic()
                client.set_registered_model_alias(MODEL, "challenger", bad)
                reached = wait_for(
                    f"the bad candidate v{bad} at {MIN_SAMPLES} answers",
                    lambda: callers.nth(bad, MIN_SAMPLES, since=moved),
                    timeout=600,
                    interval=0.2,
                )
                rolled = wait_for(
                    f"v{bad} rolled back",
                    lambda: (
                        (r := rollout_block(cluster)).get("candidateVersion") == bad
                        and r.get("phase") in ("RolledBack", "Promoted", "Aborted")
                        and r
                    ),
                    timeout=300,
                    interval=0.2,
                )
                back_s = time.monotonic() - reached.at
                ok = rolled.get("phase") == "RolledBack" and back_s <= TARGET_ROLLBACK_S
                rows.append(
                    (
                        f"bad candidate (shuffled labels): {MIN_SAMPLES} candidate answers -> rolled back",
                        f"{rolled.get('phase')} after {back_s:.1f} s",
                        f"RolledBack <= {TARGET_ROLLBACK_S:g} s",
                        ok,
                        str(rolled.get("reason")),
                    )
                )
                time.sleep(3)
            answers = callers.answers()
            failed = failures(answers)
            rows.append(
                (
                    "callers' failed requests, whole run",
                    f"{len(failed)} of {len(answers):,}",
                    "0",
                    not failed,
                    "; ".join(sorted({str(a.error or a.status)[:80] for a in failed})[:3]),
                )
            )
    finally:
        if not args.keep:
            log(f"helm uninstall; deleting namespace {NAMESPACE}")
            cluster.helm("uninstall", cluster.release, "--wait", check=False, timeout=300)
            cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=300)
        print(render(rows), flush=True)
    return 0 if all(r[3] for r in rows) or not args.check else 1


def render(rows: list[tuple[str, str, str, bool, str]]) -> str:
    out = [
        "### Progressive delivery on a real node (Canary through the gateway, judged by the operator; "
        f"default gates, latency grace {LATENCY_GRACE_MS} ms; one run)",
        "",
        "| measure | measured | target | result |",
        "|---|---|---|---|",
    ]
    out += [f"| {m} | {v} | {t} | {verdict(ok, why)} |" for m, v, t, ok, why in rows]
    if not rows:
        out.append("| (nothing measured) | | | FAIL |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench("bench_progressive", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())

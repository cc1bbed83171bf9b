"""``python -m modelship_operator.uninstall``: the chart's pre-delete hook.

``helm uninstall`` deletes the operator's Deployment and the ModelRegistry at the same moment; kopf's finalizer on
the registry (kopf puts one on every object a daemon or a timer runs for) is then left with no operator to remove
it, and the registry and its namespace stay terminating. The hook runs first, while the operator still runs: it
deletes the ModelRegistries and waits until the operator has let them go (their InferenceServices and model servers
go with them, through ownerReferences). An operator that does not answer in time gets its finalizer released here,
so the uninstall always completes. Exit 0 unless the API server refuses.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from modelship_common.logs import configure_logging
from modelship_operator.kube import REGISTRY, Kube, KubeError
from modelship_operator.shutdown import own_namespace, release_finalizers

log = logging.getLogger("modelship_operator.uninstall")


def delete_registries(kube: Kube, namespace: str, *, timeout: float, interval: float = 1.0) -> list[str]:
    """Delete every ModelRegistry in ``namespace``; wait until gone; the names still there after ``timeout``."""
    names = [r["metadata"]["name"] for r in kube.list(REGISTRY, namespace)]
    for name in names:
        kube.delete(REGISTRY, namespace, name)
    deadline = time.monotonic() + timeout
    while True:
        left = [r["metadata"]["name"] for r in kube.list(REGISTRY, namespace)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelship_operator.uninstall", description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", action="append", default=[], help="namespace (repeat); default: the pod's own")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the operator (default 60)")
    args = parser.parse_args(argv)
    configure_logging("INFO")  # JSON lines or text, as MODELSHIP_LOG_FORMAT says (the image: json)
    namespaces = args.namespace or sorted(own_namespace())
    if not namespaces:
        parser.error("no --namespace given and not running in a pod")
    kube = Kube()
    try:
        for namespace in namespaces:
            left = delete_registries(kube, namespace, timeout=args.timeout)
            if left:
                log.warning(
                    "the operator did not release %s in %s within %.0fs: releasing them", left, namespace, args.timeout
                )
                release_finalizers(kube, [namespace])
            log.info("ModelRegistries of %s deleted", namespace)
    except KubeError as exc:
        print(f"uninstall: {exc}", file=sys.stderr)
        return 1
    finally:
        kube.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

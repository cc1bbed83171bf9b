"""``--target cluster``: the InferenceServices (modelship.io/v1alpha1) in one namespace, through the API server.

Status and history are read from ``status.rollout`` and ``status.history``, which the operator keeps; promote and
rollback are requests written as annotations (:mod:`modelship_common.rollout.manual`) that the operator's rollout
loop applies once, through the same path as its automatic decisions (MLflow tags and aliases, Event, history).
"""

from __future__ import annotations

import time
from typing import Any

from modelship_cli import views
from modelship_cli.errors import CliError, first_line
from modelship_cli.settings import CliSettings
from modelship_common.rollout import manual

GROUP, VERSION, PLURAL = "modelship.io", "v1alpha1", "inferenceservices"
ANALYSED = ("Shadow", "Canary")


class ClusterTarget:
    """The InferenceServices of ``namespace`` (default: the context's) in the cluster of ``kubeconfig``."""

    name = "cluster"

    def __init__(
        self,
        settings: CliSettings,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        self.settings = settings
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
            if namespace is None:
                contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
                chosen = next((c for c in contexts if c["name"] == context), active) if context else active
                namespace = ((chosen or {}).get("context") or {}).get("namespace")
        except (ConfigException, OSError) as exc:
            raise CliError(f"no usable kubeconfig ({kubeconfig or '$KUBECONFIG or ~/.kube/config'}): {exc}") from exc
        configuration.retries = 0  # one try: an unreachable API server is reported at once
        self.host = configuration.host
        self.namespace = namespace or "default"
        self.api = client.CustomObjectsApi(client.ApiClient(configuration))

    def close(self) -> None:
        self.api.api_client.close()

    # -- the API -------------------------------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, _request_timeout=self.settings.kube_timeout_s, **kwargs)
        except ApiException as exc:
            raise CliError(self._api_error(exc)) from exc
        except (HTTPError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise CliError(f"cannot reach the Kubernetes API server at {self.host}: {first_line(reason)}") from exc

    def _api_error(self, exc: Any) -> str:
        import contextlib
        import json

        message = exc.reason
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            message = json.loads(exc.body).get("message") or message
        if exc.status == 404:
            return (
                f"the API server at {self.host} has no InferenceServices ({GROUP}/{VERSION}) in namespace "
                f"{self.namespace}: {message} (are the CRDs of k8s/crds installed?)"
            )
        return f"the Kubernetes API server at {self.host} answered {exc.status}: {first_line(Exception(message))}"

    def _list(self) -> list[dict[str, Any]]:
        body = self._call(self.api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL)
        return sorted(body.get("items") or [], key=lambda i: i["metadata"]["name"])

    def _get(self, name: str) -> dict[str, Any]:
        return self._call(self.api.get_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, name)

    def find(self, name: str) -> dict[str, Any]:
        """The InferenceService named ``name``, or the one serving model ``name`` (the one running a rollout)."""
        items = self._list()
        for item in items:
            if item["metadata"]["name"] == name:
                return item
        serving = [i for i in items if _model(i) == name]
        if len(serving) > 1:
            active = [i for i in serving if views.is_active(_status(i).get("rollout"))]
            serving = active if len(active) == 1 else serving
        if not serving:
            raise CliError(f"unknown model {name!r}: no InferenceService in namespace {self.namespace} serves it")
        if len(serving) > 1:
            names = ", ".join(i["metadata"]["name"] for i in serving)
            raise CliError(f"model {name!r} is served by several InferenceServices ({names}): name one of them")
        return serving[0]

    # -- commands ------------------------------------------------------------------------------------------------

    def status(self, model: str | None = None) -> dict[str, Any]:
        items = [self.find(model)] if model is not None else self._list()
        return {"target": self.name, "namespace": self.namespace, "models": [_model_view(i) for i in items]}

    def request(self, action: str, name: str, version: str | None, by: str, wait_s: float) -> dict[str, Any]:
        isvc = self.find(name)
        isvc_name = isvc["metadata"]["name"]
        block = _status(isvc).get("rollout") or {}
        strategy = ((isvc.get("spec") or {}).get("rollout") or {}).get("strategy") or "Rolling"
        active = views.is_active(block)
        where = f"InferenceService {self.namespace}/{isvc_name}"
        if action == "rollback" and not active:
            last = f" (its last rollout, {block['id']}, is {block.get('phase')})" if block.get("id") else ""
            raise CliError(f"{_model(isvc)} has no active rollout to roll back in {where}{last}")
        if not active and strategy not in ANALYSED:
            raise CliError(
                f"{where} uses the {strategy} strategy: no rollout loop runs for it; move its alias in MLflow "
                f"(modelship --target demo --tracking-uri URL promote {_model(isvc)} VERSION)"
            )
        if action == "promote" and active and version is not None and version != block.get("candidateVersion"):
            raise CliError(
                f"{_model(isvc)} has an active rollout of version {block.get('candidateVersion')}, not {version}: "
                "promote that one, or roll it back first"
            )
        request_id = manual.new_request_id()
        annotations = manual.request_annotations(action, request_id, version=version, by=by)
        self._call(
            self.api.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            isvc_name,
            {"metadata": {"annotations": annotations}},
        )
        out: dict[str, Any] = {
            "target": self.name,
            "namespace": self.namespace,
            "inference_service": isvc_name,
            "model": _model(isvc),
            "action": action,
            "request_id": request_id,
            "version": version,
            "handled": None,
        }
        if wait_s > 0:
            out["handled"] = self._wait_handled(isvc_name, manual.read_request(annotations), wait_s)
            if out["handled"]["status"] != "True":
                raise CliError(f"the operator refused {action} of {_model(isvc)}: {out['handled']['message']}")
        return out

    def _wait_handled(self, name: str, request: manual.ManualRequest | None, wait_s: float) -> dict[str, Any]:
        assert request is not None
        deadline = time.monotonic() + wait_s
        while True:
            conditions = _status(self._get(name)).get("conditions")
            if manual.is_handled(conditions, request):
                cond = manual.handled_condition(conditions) or {}
                return {k: cond.get(k) for k in ("status", "reason", "message", "lastTransitionTime")}
            if time.monotonic() >= deadline:
                raise CliError(
                    f"the operator did not handle {request.key} on {self.namespace}/{name} within {wait_s:g} s "
                    "(is it running? the request stays and is applied on its next pass)"
                )
            time.sleep(0.5)

    def history(self, name: str) -> dict[str, Any]:
        isvc = self.find(name)
        status = _status(isvc)
        rollouts: dict[Any, dict[str, Any]] = {}
        versions = []
        for entry in status.get("history") or []:
            if not entry.get("action"):
                versions.append(entry)
                continue
            rid = entry.get("rolloutId")
            view = rollouts.setdefault(
                rid,
                {
                    "id": rid,
                    "strategy": None,
                    "phase": None,
                    "champion_version": entry.get("championVersion"),
                    "candidate_version": entry.get("version"),
                    "started_at": None,
                    "finished_at": None,
                    "decisions": [],
                },
            )
            view["decisions"].append(views.history_decision_view(entry))
            view["phase"] = entry.get("result")
        block = status.get("rollout") or {}
        if block.get("id") is not None:
            current = {**views.status_rollout_view(block), "decisions": []}
            current["decisions"] = rollouts.get(block["id"], {}).get("decisions", [])
            rollouts[block["id"]] = current
        ordered = sorted(rollouts.values(), key=lambda r: r["id"] or 0, reverse=True)
        return {
            "target": self.name,
            "namespace": self.namespace,
            "inference_service": isvc["metadata"]["name"],
            "model": _model(isvc),
            "rollouts": ordered,
            "versions": versions,
        }


def _status(isvc: dict[str, Any]) -> dict[str, Any]:
    return isvc.get("status") or {}


def _model(isvc: dict[str, Any]) -> str:
    return str(((isvc.get("spec") or {}).get("model") or {}).get("name") or isvc["metadata"]["name"])


def _model_view(isvc: dict[str, Any]) -> dict[str, Any]:
    status = _status(isvc)
    block = status.get("rollout") or {}
    active = views.is_active(block)
    spec = isvc.get("spec") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    handled = manual.handled_condition(status.get("conditions"))
    return {
        "name": _model(isvc),
        "inference_service": isvc["metadata"]["name"],
        "strategy": (spec.get("rollout") or {}).get("strategy") or "Rolling",
        # What the main predictor serves: the champion (during a warm window after a promotion, the old one).
        "champion": block.get("championVersion") if active else status.get("modelVersion"),
        "challenger": block.get("candidateVersion") if active else None,
        "serving": status.get("modelVersion"),
        "ready": ready.get("status") == "True",
        "rollout": views.status_rollout_view(block) if active else None,
        "analysis": views.status_analysis_view(block) if active else None,
        "last_rollout": views.status_rollout_view(block) if block and not active else None,
        "manual_action": {k: handled.get(k) for k in ("status", "reason", "message")} if handled else None,
    }

"""The text the command prints for people (``--json`` prints the views themselves)."""

from __future__ import annotations

from typing import Any


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rollout_line(r: dict[str, Any]) -> str:
    stepping = r["phase"] in ("Shadowing", "Canary") and r.get("step")
    where = f"step {r['step']}/{r['steps']}" if stepping else r["phase"]
    traffic = (
        f"shadowing {round((r.get('shadow_share') or 0) * 100)} % of requests"
        if r["phase"] == "Shadowing"
        else f"{r.get('weight', 0)} % of callers"
    )
    return (
        f"rollout {r['id']}  {r['strategy']}  {r['phase']}  {where}  {traffic}  "
        f"candidate {r['candidate_version']} against {r['champion_version']}  (started {r.get('started_at') or '-'})"
    )


def gates_table(gates: list[dict[str, Any]], indent: str = "    ") -> list[str]:
    if not gates:
        return []
    width = max(len("gate"), *(len(str(g["name"])) for g in gates))
    lines = [f"{indent}{'gate':<{width}}  {'value':>10}  {'threshold':>10}  result"]
    for g in gates:
        result = {True: "pass", False: "FAIL", None: "waiting"}[g.get("passed")]
        lines.append(
            f"{indent}{g['name']:<{width}}  {_num(g.get('value')):>10}  {_num(g.get('threshold')):>10}  "
            f"{result}  ({g.get('detail') or ''})"
        )
    return lines


def status(view: dict[str, Any]) -> str:
    lines = []
    if not view["models"]:
        where = f" in namespace {view['namespace']}" if view.get("namespace") else ""
        return f"no models{where}"
    for m in view["models"]:
        head = f"{m['name']}  champion {m.get('champion') or '-'}  challenger {m.get('challenger') or '-'}"
        if m.get("inference_service"):
            head += f"  ({m['inference_service']}, {m.get('strategy')}, serving {m.get('serving') or '-'})"
        lines.append(head)
        if m.get("rollout"):
            lines.append("  " + rollout_line(m["rollout"]))
            analysis = m.get("analysis") or {}
            if analysis.get("verdict") or analysis.get("reason"):
                lines.append(f"  verdict {analysis.get('verdict') or '-'}: {analysis.get('reason') or ''}")
            lines += gates_table(analysis.get("gates") or [])
            if analysis.get("next"):
                lines.append(f"  next: {analysis['next']['action']}: {analysis['next']['reason']}")
        else:
            lines.append("  no active rollout")
        if m.get("manual_action"):
            action = m["manual_action"]
            lines.append(f"  last manual request: {action.get('reason')}: {action.get('message')}")
    return "\n".join(lines)


def decision(view: dict[str, Any]) -> str:
    if view.get("request_id"):
        text = (
            f"{view['action']} of {view['model']} requested on {view['namespace']}/{view['inference_service']} "
            f"(request {view['request_id']})"
        )
        handled = view.get("handled")
        if handled:
            return f"{text}: {handled.get('reason')}: {handled.get('message')}"
        return f"{text}; the operator applies it on its next pass (modelship --target cluster status {view['model']})"
    if view.get("decision"):
        d, r = view["decision"], view["rollout"]
        return (
            f"{view['model']}: rollout {r['id']} {r['phase']} (version {r['candidate_version']} against "
            f"{r['champion_version']}); champion is {view.get('champion') or '-'}; decision {d['id']}: {d['reason']}"
        )
    return f"{view['model']}: champion {view.get('previous_champion') or '-'} -> {view['champion']}"


def _evidence(e: dict[str, Any]) -> str:
    stats = e.get("stats")
    if stats:  # the full evidence (rollout_decisions)
        cand, champ = stats.get("candidate") or {}, stats.get("champion") or {}
        parts = [
            f"candidate {cand.get('requests', 0)} requests ({cand.get('errors', 0)} failed)",
            f"champion {champ.get('requests', 0)}",
            f"agreement {_num(stats.get('agreement'))} over {stats.get('paired', 0)}",
            f"p95 {_num(cand.get('p95_latency_ms'))} vs {_num(champ.get('p95_latency_ms'))} ms",
        ]
        verdict = e.get("verdict") or {}
        if verdict.get("status"):
            parts.append(f"verdict {verdict['status']}")
        return ", ".join(parts)
    if "candidateRequests" in e or "verdict" in e:  # the operator's summary (status.history)
        return ", ".join(f"{k} {_num(v)}" for k, v in e.items())
    return ""


def history(view: dict[str, Any]) -> str:
    lines = [f"{view['model']}: {len(view['rollouts'])} rollout(s)"]
    for r in view["rollouts"]:
        lines.append(
            f"rollout {r['id']}  {r.get('strategy') or '-'}  version {r.get('candidate_version')} against "
            f"{r.get('champion_version')}  {r.get('phase')}  started {r.get('started_at') or '-'}  "
            f"finished {r.get('finished_at') or '-'}"
        )
        for d in r.get("decisions") or []:
            step = f" step {d['step']}" if d.get("step") else ""
            lines.append(
                f"  {d.get('decided_at')}  {d.get('action'):<8}  {d.get('phase')}{step}  {_num(d.get('weight'))} %  "
                f"{d.get('reason')}"
            )
            summary = _evidence(d.get("evidence") or {})
            if summary:
                lines.append(f"      evidence: {summary}")
    return "\n".join(lines)

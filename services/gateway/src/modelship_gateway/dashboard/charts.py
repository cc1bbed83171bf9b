"""Chart specifications for plotly.js (``{"data": [...], "layout": {...}}``), rendered in the browser by the
dashboard's own script with the plotly.js bundle that ships inside the ``plotly`` Python package."""

from __future__ import annotations

from typing import Any

from modelship_gateway.dashboard.queries import Agreement, VersionStats
from modelship_gateway.rollouts import RolloutView

FONT = {"family": "system-ui, sans-serif", "size": 12, "color": "#1f2933"}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 60},
        "height": 320,
        "xaxis": {"automargin": True},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        **extra,
    }


def _label(stat: VersionStats) -> str:
    return f"{stat.model} v{stat.version}"


def latency_chart(stats: list[VersionStats]) -> dict[str, Any] | None:
    """Grouped bars: p50 and p95 latency of every model version."""
    if not stats:
        return None
    labels = [_label(s) for s in stats]
    return {
        "data": [
            {
                "type": "bar",
                "name": "p50",
                "x": labels,
                "y": [s.p50_latency_ms for s in stats],
                "marker": {"color": "#3b82f6"},
            },
            {
                "type": "bar",
                "name": "p95",
                "x": labels,
                "y": [s.p95_latency_ms for s in stats],
                "marker": {"color": "#f59e0b"},
            },
        ],
        "layout": _layout(
            "Latency (ms)", barmode="group", yaxis={"title": {"text": "ms"}, "rangemode": "tozero", "automargin": True}
        ),
    }


def confidence_chart(stats: list[VersionStats]) -> dict[str, Any] | None:
    """Bars: mean confidence of every model version (versions without single-row predictions are left out)."""
    shown = [s for s in stats if s.mean_confidence is not None]
    if not shown:
        return None
    return {
        "data": [
            {
                "type": "bar",
                "x": [_label(s) for s in shown],
                "y": [s.mean_confidence for s in shown],
                "marker": {"color": "#10b981"},
                "hovertemplate": "%{x}: %{y:.1%}<extra></extra>",
            }
        ],
        "layout": _layout("Mean confidence", yaxis={"range": [0, 1], "tickformat": ".0%"}),
    }


def agreement_heatmap(agreement: Agreement) -> dict[str, Any] | None:
    """Heatmap of the pairwise agreement rates between image models."""
    if len(agreement.models) < 2:
        return None
    matrix = agreement.matrix()
    text = [["-" if v is None else f"{v:.1%}" for v in row] for row in matrix]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": agreement.models,
                "y": agreement.models,
                "z": matrix,
                "zmin": 0,
                "zmax": 1,
                "text": text,
                "texttemplate": "%{text}",
                "colorscale": [[0, "#fef3c7"], [0.5, "#bfdbfe"], [1, "#3b82f6"]],
                "hovertemplate": "%{y} vs %{x}: %{text}<extra></extra>",
            }
        ],
        "layout": _layout("Pairwise agreement", yaxis={"autorange": "reversed", "automargin": True}),
    }


def rollout_weight_chart(view: RolloutView) -> dict[str, Any]:
    """Step line: the candidate's share of callers (and, for Shadow, of mirrored requests) over time, from the
    rollout's start through each decision to now or its end."""
    points = view.weight_series()
    times = [t.isoformat() for t, _, _ in points]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "candidate weight",
            "x": times,
            "y": [w for _, w, _ in points],
            "line": {"shape": "hv", "color": "#2563eb"},
            "hovertemplate": "%{x}: %{y} %<extra>candidate weight</extra>",
        }
    ]
    if view.rollout.strategy == "Shadow":
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "shadow share",
                "x": times,
                "y": [round(s * 100, 2) for _, _, s in points],
                "line": {"shape": "hv", "color": "#f59e0b", "dash": "dot"},
                "hovertemplate": "%{x}: %{y} %<extra>shadow share</extra>",
            }
        )
    layout = _layout(
        f"{view.rollout.model_name} v{view.rollout.candidate_version}: traffic to the candidate",
        height=240,
        yaxis={"range": [0, 105], "ticksuffix": " %", "automargin": True},
        xaxis={"type": "date", "automargin": True},
        showlegend=view.rollout.strategy == "Shadow",
    )
    return {"data": data, "layout": layout}

"""Shadow and canary rollouts on the request path: who answers a request, and what is mirrored.

- :mod:`~modelship_scoring.rollout.traffic`: :func:`route` a request id (who answers, who gets a copy);
- :mod:`~modelship_scoring.rollout.cache`: :class:`ActiveRollouts`, the routing table read from the database.

The spec, the tables, the analysis and the decision loop live in :mod:`modelship_common.rollout` (the operator,
which judges the candidates, depends on modelship-common only); the names used most are re-exported here.
"""

from modelship_common.rollout import (
    Action,
    ArmStats,
    Gate,
    InvalidRolloutSpec,
    Outcome,
    RolloutRecord,
    RolloutSpec,
    Step,
    Thresholds,
    Verdict,
    WindowStats,
    advance,
    decide,
    evaluate,
    gather_stats,
    judge,
    parse_rollout_spec,
    rollout_stats,
    tick,
)
from modelship_scoring.rollout.cache import ActiveRollouts
from modelship_scoring.rollout.traffic import Route, route, route_request

__all__ = [
    "Action",
    "ActiveRollouts",
    "ArmStats",
    "Gate",
    "InvalidRolloutSpec",
    "Outcome",
    "RolloutRecord",
    "RolloutSpec",
    "Route",
    "Step",
    "Thresholds",
    "Verdict",
    "WindowStats",
    "advance",
    "decide",
    "evaluate",
    "gather_stats",
    "judge",
    "parse_rollout_spec",
    "rollout_stats",
    "route",
    "route_request",
    "tick",
]

"""Shadow and canary rollouts, transport-neutral: traffic routing, the analysis and the decision loop.

- :mod:`~modelship_scoring.rollout.traffic`: :func:`route` a request id (who answers, who gets a copy);
- :mod:`~modelship_scoring.rollout.cache`: :class:`ActiveRollouts`, the routing table read from the database;
- :mod:`~modelship_scoring.rollout.stats`: :func:`gather_stats` over the predictions table;
- :mod:`~modelship_scoring.rollout.analysis`: :func:`judge` (pure) and the state machine :func:`advance` (pure);
- :mod:`~modelship_scoring.rollout.controller`: :func:`tick`, one analysis pass that records its decisions.

The spec (:mod:`modelship_common.rollout_spec`) and the tables (:mod:`modelship_common.rollouts`) live in
modelship_common, which the operator depends on; the names used most are re-exported here.
"""

from modelship_common.rollout_spec import InvalidRolloutSpec, RolloutSpec, Step, Thresholds, parse_rollout_spec
from modelship_common.rollouts import RolloutRecord
from modelship_scoring.rollout.analysis import Action, Gate, Verdict, advance, judge
from modelship_scoring.rollout.cache import ActiveRollouts
from modelship_scoring.rollout.controller import Outcome, decide, evaluate, tick
from modelship_scoring.rollout.stats import ArmStats, WindowStats, gather_stats, rollout_stats
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

"""Shadow and canary rollouts: the spec, the tables, the analysis and the decision loop (no transport).

It lives in modelship_common because the operator, which runs the loop in a cluster, depends on modelship-common
only; the gateway's routing (:mod:`modelship_scoring.rollout`) reads the same tables.

- :mod:`~modelship_common.rollout.spec`: :class:`RolloutSpec` (``InferenceService.spec.rollout``) and its parser;
- :mod:`~modelship_common.rollout.tables`: the ``rollouts`` and ``rollout_decisions`` tables and their helpers
  (:func:`start_rollout`, :func:`record_decision`...);
- :mod:`~modelship_common.rollout.stats`: :func:`gather_stats`, champion against candidate over ``predictions``;
- :mod:`~modelship_common.rollout.analysis`: :func:`judge` and the state machine :func:`advance` (pure);
- :mod:`~modelship_common.rollout.controller`: :func:`tick`, one analysis pass that records its decisions.
"""

from modelship_common.rollout.analysis import Action, Gate, Verdict, advance, evidence, judge
from modelship_common.rollout.controller import Outcome, decide, evaluate, tick
from modelship_common.rollout.spec import InvalidRolloutSpec, RolloutSpec, Step, Thresholds, parse_rollout_spec
from modelship_common.rollout.stats import ArmStats, WindowStats, gather_stats, rollout_stats
from modelship_common.rollout.tables import (
    DecisionRecord,
    RolloutConflict,
    RolloutExists,
    RolloutRecord,
    active_rollout,
    active_rollouts,
    get_rollout,
    list_decisions,
    record_decision,
    rollout_history,
    start_rollout,
)

__all__ = [
    "Action",
    "ArmStats",
    "DecisionRecord",
    "Gate",
    "InvalidRolloutSpec",
    "Outcome",
    "RolloutConflict",
    "RolloutExists",
    "RolloutRecord",
    "RolloutSpec",
    "Step",
    "Thresholds",
    "Verdict",
    "WindowStats",
    "active_rollout",
    "active_rollouts",
    "advance",
    "decide",
    "evaluate",
    "evidence",
    "gather_stats",
    "get_rollout",
    "judge",
    "list_decisions",
    "parse_rollout_spec",
    "record_decision",
    "rollout_history",
    "rollout_stats",
    "start_rollout",
    "tick",
]

"""Naming a model server's probability columns: the gateway's predictions and the image fan-out name them alike."""

from __future__ import annotations

from collections.abc import Sequence

from modelship_common.registry import ModelVersionInfo
from modelship_scoring.model_servers import Scores


def _consistent(names: Sequence[str], scores: Scores) -> bool:
    n_cols = len(scores.probabilities[0]) if scores.probabilities else 0
    if len(names) != n_cols:
        return False
    pairs = zip(scores.class_ids, scores.class_names, strict=True)
    return all(0 <= cid < n_cols and names[cid] == cname for cid, cname in pairs)


def column_names(scores: Scores, info: ModelVersionInfo | None, schema_classes: Sequence[str]) -> list[str]:
    """Name each probability column: the server's list, else the registry's, else the dataset schema's, as long
    as it agrees with the predicted (class_id, class_name) pairs; else the names seen, and indices for the rest."""
    for candidate in (scores.classes, info.classes if info else None, schema_classes):
        if candidate and _consistent(candidate, scores):
            return list(candidate)
    n_cols = len(scores.probabilities[0]) if scores.probabilities else 0
    names = [str(i) for i in range(n_cols)]
    for cid, cname in zip(scores.class_ids, scores.class_names, strict=True):
        if 0 <= cid < n_cols:
            names[cid] = cname
    return names

"""Promotion policy: does a new model version become ``champion`` or ``challenger``?

Pure: scores in, decision out. :mod:`modelship_training.registration` applies the decision to the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelship_common.registry import CHALLENGER, CHAMPION

#: Scores that differ by less than this are equal (0.90 + 0.05 is 0.9500000000000001 in floating point).
TOLERANCE = 1e-12


@dataclass(frozen=True)
class PromotionDecision:
    """The alias a new version gets, the scores it was decided on, and why."""

    alias: str
    new_f1: float
    champion_f1: float | None
    champion_version: str | None
    margin: float

    @property
    def promoted(self) -> bool:
        return self.alias == CHAMPION

    @property
    def reason(self) -> str:
        if self.champion_f1 is None:
            return f"no champion yet: test_f1={self.new_f1:.4f} becomes champion"
        relation = ">=" if self.promoted else "<"
        return (
            f"test_f1={self.new_f1:.4f} {relation} champion v{self.champion_version} "
            f"test_f1={self.champion_f1:.4f} + margin {self.margin:g}"
        )


def decide(
    new_f1: float,
    champion_f1: float | None,
    margin: float = 0.0,
    champion_version: str | None = None,
) -> PromotionDecision:
    """``champion`` if there is no champion or ``new_f1 >= champion_f1 + margin``, else ``challenger``.

    A champion without a readable ``test_f1`` (``champion_f1=None`` with a version) is replaced.
    """
    if margin < 0:
        raise ValueError(f"promotion margin must be >= 0, got {margin}")
    promoted = champion_f1 is None or new_f1 >= champion_f1 + margin - TOLERANCE
    return PromotionDecision(
        alias=CHAMPION if promoted else CHALLENGER,
        new_f1=float(new_f1),
        champion_f1=None if champion_f1 is None else float(champion_f1),
        champion_version=champion_version,
        margin=float(margin),
    )

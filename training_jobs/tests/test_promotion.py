"""The promotion policy, as a pure function."""

from __future__ import annotations

import pytest

from modelship_training.promotion import decide


def test_first_version_becomes_champion() -> None:
    decision = decide(0.91, None)
    assert decision.alias == "champion"
    assert decision.promoted
    assert "no champion yet" in decision.reason


def test_better_or_equal_score_is_promoted() -> None:
    assert decide(0.95, 0.90).alias == "champion"
    assert decide(0.90, 0.90).alias == "champion"  # >=: a tie replaces the champion


def test_worse_score_becomes_challenger() -> None:
    decision = decide(0.89, 0.90, champion_version="3")
    assert decision.alias == "challenger"
    assert not decision.promoted
    assert decision.reason == "test_f1=0.8900 < champion v3 test_f1=0.9000 + margin 0"


def test_margin_is_required_on_top_of_the_champion() -> None:
    assert decide(0.92, 0.90, margin=0.05).alias == "challenger"
    assert decide(0.95, 0.90, margin=0.05).alias == "champion"
    decision = decide(0.96, 0.90, margin=0.05, champion_version="2")
    assert (decision.new_f1, decision.champion_f1, decision.margin) == (0.96, 0.90, 0.05)
    assert decision.reason == "test_f1=0.9600 >= champion v2 test_f1=0.9000 + margin 0.05"


def test_negative_margin_is_rejected() -> None:
    with pytest.raises(ValueError, match="margin must be >= 0"):
        decide(0.9, 0.8, margin=-0.1)

"""V1 tabular rows: the column-wise encoding gives exactly what ``penguins.encode_rows`` gives, errors included."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

from modelship_common.errors import InvalidInput
from modelship_common.schemas import penguins
from modelship_serving import inputs


def _dict_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Valid raw rows spread over the whole valid ranges, ints and floats mixed (as JSON clients send them)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"island": penguins.ISLANDS[i % 3]}
        for name, (low, high) in penguins.NUMERIC_RANGES.items():
            value = float(rng.uniform(low, high))
            row[name] = int(value) if i % 2 else value
        row["sex"] = penguins.SEXES[i % 2]
        rows.append(row)
    rows[0]["bill_length_mm"] = penguins.NUMERIC_RANGES["bill_length_mm"][1]  # the bounds are valid
    rows[-1]["body_mass_g"] = penguins.NUMERIC_RANGES["body_mass_g"][0]
    return rows


def _raw_lists(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r[k] for k in penguins.RAW_FEATURES] for r in rows]


def _encoded(rows: list[dict[str, Any]]) -> list[list[float]]:
    return penguins.encode_rows(rows).astype(np.float64).tolist()


FORMS = {"dicts": lambda rows: rows, "raw lists": _raw_lists, "encoded": _encoded}


def _same_as_encode_rows(rows: Any) -> None:
    """``tabular_rows`` answers as ``encode_rows`` does: the same float32 batch, or the same error (an int too
    large for a float is an ``OverflowError`` there, not an ``InvalidInput``: that is left as it is)."""
    try:
        expected = penguins.encode_rows(copy.deepcopy(rows))
    except (InvalidInput, OverflowError) as exc:
        with pytest.raises(type(exc)) as info:
            inputs.tabular_rows(rows)
        assert str(info.value) == str(exc)
        return
    got = inputs.tabular_rows(rows)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("n", [1, 3, 4, 8, 32, 100])
def test_valid_rows_encode_alike(form, n):
    rows = FORMS[form](_dict_rows(n, seed=n))
    _same_as_encode_rows(rows)
    if n >= inputs._COLUMNWISE_ROWS:
        assert inputs._uniform_rows(rows) is not None  # these took the column-wise path


def _bad(form: str, index: int, **change: Any) -> list[Any]:
    rows = _dict_rows(32)
    rows[index] = {**rows[index], **change}
    return FORMS[form](rows) if form != "encoded" else rows


@pytest.mark.parametrize("form", ["dicts", "raw lists"])
@pytest.mark.parametrize(
    "change",
    [
        {"bill_length_mm": 500},
        {"bill_depth_mm": -1.0},
        {"flipper_length_mm": math.nan},
        {"body_mass_g": math.inf},
        {"body_mass_g": True},
        {"bill_length_mm": "45.2"},
        {"bill_length_mm": None},
        {"bill_length_mm": 10**400},
        {"island": "Atlantis"},
        {"island": "biscoe"},  # accepted by encode_rows (any case): the column-wise path leaves it to it
        {"sex": " male "},
        {"sex": ["male"]},
        {"sex": None},
    ],
)
@pytest.mark.parametrize("index", [0, 17, 31])
def test_bad_or_unusual_values_answer_as_encode_rows(form, change, index):
    _same_as_encode_rows(_bad(form, index, **change))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda rows: rows[5].pop("sex"),
        lambda rows: rows[5].update(beak_colour="red"),
        lambda rows: rows.__setitem__(5, _raw_lists([rows[5]])[0]),  # a raw list among dicts
        lambda rows: rows.__setitem__(5, _encoded([rows[5]])[0]),  # an encoded list among dicts
        lambda rows: rows.__setitem__(5, [1.0, 2.0, 3.0]),
        lambda rows: rows.__setitem__(5, "Biscoe"),
        lambda rows: rows.__setitem__(5, tuple(_raw_lists([rows[5]])[0])),
    ],
)
def test_mixed_or_malformed_dict_rows_answer_as_encode_rows(mutate):
    rows = _dict_rows(32)
    mutate(rows)
    _same_as_encode_rows(rows)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda rows: rows[3].__setitem__(0, 500.0),  # out of range
        lambda rows: rows[3].__setitem__(4, 0.5),  # one-hot not 0/1
        lambda rows: rows[3].__setitem__(5, 1.0),  # two islands
        lambda rows: rows[3].__setitem__(7, 0.0),  # no sex
        lambda rows: rows[3].__setitem__(1, True),
        lambda rows: rows[3].__setitem__(1, "14.8"),
        lambda rows: rows[3].__setitem__(1, math.nan),
        lambda rows: rows[3].append(0.0),
        lambda rows: rows.__setitem__(3, rows[3][:6]),
        lambda rows: rows.__setitem__(3, ["Biscoe", *rows[3][:4], "male"]),  # a raw list among encoded ones
    ],
)
def test_bad_encoded_rows_answer_as_encode_rows(mutate):
    rows = _encoded(_dict_rows(32))
    mutate(rows)
    _same_as_encode_rows(rows)


def test_raw_list_rows_with_a_non_string_island_answer_as_encode_rows():
    rows = _raw_lists(_dict_rows(8))
    rows[2][0] = 1.0
    _same_as_encode_rows(rows)

import numpy as np
import pytest

from modelship_common.errors import InvalidInput
from modelship_common.schemas import penguins

ROW = dict(penguins.EXAMPLE_ROW)  # a female Gentoo: Biscoe, 45.2 x 14.8 mm, 212 mm, 5,200 g
ENCODED = [45.2, 14.8, 212.0, 5200.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_dict_raw_list_and_encoded_list_encode_alike():
    raw_list = [ROW[name] for name in penguins.RAW_FEATURES]
    matrix = penguins.encode_rows([ROW, raw_list, ENCODED])
    assert matrix.dtype == np.float32
    assert matrix.shape == (3, penguins.N_FEATURES)
    np.testing.assert_allclose(matrix, np.asarray([ENCODED] * 3, dtype=np.float32))


def test_categories_are_case_insensitive():
    row = dict(ROW, island="dream", sex="MALE")
    assert penguins.encode_row(row)[4:] == [0.0, 1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bill_length_mm", 9.99, "bill_length_mm=9.99 is outside the valid range 10-100"),
        ("bill_length_mm", 100.01, "outside the valid range 10-100"),
        ("bill_depth_mm", 4.9, "outside the valid range 5-35"),
        ("bill_depth_mm", 35.1, "outside the valid range 5-35"),
        ("flipper_length_mm", 99, "outside the valid range 100-300"),
        ("flipper_length_mm", 301, "outside the valid range 100-300"),
        ("body_mass_g", 999, "outside the valid range 1000-10000"),
        ("body_mass_g", 10001, "outside the valid range 1000-10000"),
        ("body_mass_g", float("nan"), "outside the valid range"),
        ("body_mass_g", "heavy", "must be a number"),
        ("body_mass_g", True, "must be a number"),
        ("island", "Atlantis", "island='Atlantis' is not one of Biscoe, Dream, Torgersen"),
        ("sex", "unknown", "sex='unknown' is not one of female, male"),
    ],
)
def test_bad_values_are_rejected_with_the_field_named(field, value, message):
    with pytest.raises(InvalidInput, match="row 0: ") as info:
        penguins.encode_rows([dict(ROW, **{field: value})])
    assert message in str(info.value)


def test_range_edges_are_accepted():
    row = dict(ROW, bill_length_mm=10, bill_depth_mm=35, flipper_length_mm=300, body_mass_g=1000)
    assert penguins.encode_row(row)[:4] == [10.0, 35.0, 300.0, 1000.0]


def test_missing_and_unknown_feature_names_are_listed():
    row = {k: v for k, v in ROW.items() if k != "sex"}
    row["beak"] = 3
    with pytest.raises(InvalidInput, match="missing sex; unknown beak"):
        penguins.encode_rows([row])


def test_wrong_length_list_names_both_accepted_shapes():
    with pytest.raises(InvalidInput, match=r"expected 6 raw values .* or 9 encoded values .* got 4"):
        penguins.encode_rows([[1, 2, 3, 4]])


def test_encoded_list_needs_valid_one_hot():
    bad = [*ENCODED[:4], 1.0, 1.0, 0.0, 1.0, 0.0]
    with pytest.raises(InvalidInput, match="exactly one 1"):
        penguins.encode_rows([bad])


def test_empty_and_non_row_input():
    with pytest.raises(InvalidInput, match="no rows"):
        penguins.encode_rows([])
    with pytest.raises(InvalidInput, match="expected an object or a list, got str"):
        penguins.encode_rows(["Biscoe"])


def test_check_matrix_validates_shape_and_values():
    ok = penguins.check_matrix(np.asarray([ENCODED], dtype=np.float64))
    assert ok.dtype == np.float32
    with pytest.raises(InvalidInput, match=r"expected shape \[n, 9\]"):
        penguins.check_matrix(np.zeros((2, 4)))
    with pytest.raises(InvalidInput, match="outside the valid range"):
        penguins.check_matrix(np.asarray([[500.0, *ENCODED[1:]]]))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (0, 500.0, r"row 20: bill_length_mm=500.0 is outside the valid range"),
        (3, float("nan"), r"row 20: body_mass_g=nan is outside the valid range"),
        (2, float("inf"), r"row 20: flipper_length_mm=inf is outside the valid range"),
        (4, 0.5, r"row 20: one-hot columns \('island_Biscoe'"),
        (6, 1.0, r"row 20: one-hot columns \('island_Biscoe'"),  # two islands
        (7, 0.0, r"row 20: one-hot columns \('sex_female'"),  # no sex
    ],
)
def test_check_matrix_names_the_bad_row_of_a_large_batch(column, value, message):
    # 32 rows take the whole-array check; a bad value must still be reported by row and column.
    matrix = np.asarray([ENCODED] * 32, dtype=np.float32)
    matrix[20, column] = value
    with pytest.raises(InvalidInput, match=message):
        penguins.check_matrix(matrix)


def test_check_matrix_small_and_large_batches_agree():
    for n in (1, 7, 8, 64):
        out = penguins.check_matrix(np.asarray([ENCODED] * n, dtype=np.float64))
        np.testing.assert_array_equal(out, np.asarray([ENCODED] * n, dtype=np.float32))


def test_describe_is_json_ready():
    import json

    described = json.loads(json.dumps(penguins.describe()))
    assert described["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert described["numeric_ranges"]["body_mass_g"] == [1000.0, 10000.0]

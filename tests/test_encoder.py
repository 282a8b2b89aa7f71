"""The one row encoder: what serving reads from a request equals what training read from
the table, for every kind of value a user's data holds."""

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elec.config import FieldSpec
from elec.data.encoder import MISSING, OOV, RowEncoder
from elec.data.schema import FeatureSchema
from elec.data.values import RowError

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)
WORDS = st.one_of(st.just(""), st.sampled_from(["a", "b", "Zürich", "東京", "x" * 500]), TEXT)
INTS = st.integers(-(2**62), 2**62)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=False),
                   st.integers(-1000, 1000).map(float))  # integer-valued floats: 3.0

# kind of field -> (arrow type, strategy of one value)
COLUMNS = {
    "categorical-string": ("categorical", pa.string(), WORDS),
    "categorical-int": ("categorical", pa.int64(), INTS),
    "categorical-float": ("categorical", pa.float64(), FLOATS),
    "numeric-int": ("numeric", pa.int64(), INTS),
    "numeric-float": ("numeric", pa.float64(), FLOATS),
    "multi-string": ("multi", pa.list_(pa.string()), st.lists(st.one_of(st.none(), WORDS),
                                                              max_size=4)),
    "multi-int": ("multi", pa.list_(pa.int64()), st.lists(st.one_of(st.none(), INTS),
                                                          max_size=4)),
}


@st.composite
def tables(draw):
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5))
    rows = draw(st.integers(1, 12))
    columns, specs = {}, []
    for k, name in enumerate(names):
        kind, arrow_type, values = COLUMNS[name]
        field = f"f{k}_{name}"
        columns[field] = pa.array(draw(st.lists(st.one_of(st.none(), values), min_size=rows,
                                                max_size=rows)), type=arrow_type)
        specs.append(FieldSpec(name=field, kind=kind, n_buckets=3, max_len=3))
    return pa.table(columns), specs


@settings(max_examples=150, deadline=None)
@given(tables(), st.data())
def test_serving_encodes_a_request_as_training_encoded_the_table(drawn, data):
    table, specs = drawn
    # fit on a part of the rows, so the rest holds unseen values too
    fitted_on = table.slice(0, data.draw(st.integers(1, table.num_rows)))
    encoder = RowEncoder(FeatureSchema.fit(fitted_on, specs))
    training = encoder.encode_table(table)
    # what an HTTP client sends: the same rows as JSON
    request = json.loads(json.dumps(table.to_pylist()))
    serving = encoder.encode_rows(request)
    # a large request is read column by column: the same ids
    columns = {name: [row.get(name) for row in request] for name in table.column_names}
    large = encoder.encode_columns(columns, len(request), columnwise=True)
    for encoded in (serving, large):
        np.testing.assert_array_equal(encoded.single, training.single)
        for a, b in zip(encoded.multi, training.multi, strict=True):
            np.testing.assert_array_equal(a, b)


# anything a JSON request can hold, mixed within a column
ANY = st.one_of(st.none(), WORDS, INTS, st.integers(), FLOATS, st.booleans(),
                st.lists(st.one_of(st.none(), WORDS, INTS), max_size=3),
                st.dictionaries(st.just("a"), INTS, max_size=1))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["categorical", "numeric", "multi"]),
       st.lists(st.sampled_from(["a", "b", "3", "7.5", "東京"]), min_size=1, max_size=8),
       st.lists(ANY, min_size=1, max_size=12), st.sampled_from([None, "|"]))
def test_a_request_reads_the_same_by_rows_and_by_columns(kind, fitted, request, split):
    """Whatever a column of a request mixes, reading it as a column gives the ids, or
    the error, that reading it value by value gives."""
    if kind == "multi":
        fitted = [[v] for v in fitted]
    elif kind == "numeric":
        fitted = [float(len(v)) for v in fitted]
    spec = FieldSpec(name="f", kind=kind, n_buckets=3, max_len=3,
                     split=split if kind == "multi" else None)
    encoder = RowEncoder(FeatureSchema.fit(pa.table({"f": pa.array(fitted)}), [spec]))
    outcomes = []
    for columnwise in (False, True):
        try:
            encoded = encoder.encode_columns({"f": request}, len(request), columnwise=columnwise)
            outcomes.append((encoded.single.tolist(), [m.tolist() for m in encoded.multi]))
        except RowError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1]


def test_one_value_is_one_key_whatever_its_type():
    specs = [FieldSpec(name="zip", kind="categorical"), FieldSpec(name="age", kind="numeric",
                                                                  boundaries=[18, 30])]
    encoder = RowEncoder(FeatureSchema.fit(pa.table({"zip": [3.0, 7.5], "age": [20, 40]}), specs))
    rows = [{"zip": 3}, {"zip": "3"}, {"zip": 3.0}, {"zip": 7.5}, {"zip": "7.5"},
            {"zip": ""}, {"zip": None}, {}, {"zip": math.nan}, {"zip": "new"}]
    assert encoder.encode_rows(rows).single[:, 0].tolist() == [2, 2, 2, 3, 3] + [MISSING] * 4 + [
        OOV]
    ages = encoder.encode_rows([{"age": "25"}, {"age": 25}, {"age": ""}, {"age": "1e999"}])
    assert ages.single[:, 1].tolist() == [2, 2, MISSING, 3]


@pytest.mark.parametrize("row, message", [
    ({"age": "old"}, "row 0, field 'age': expected a number, got 'old'$"),
    ({"age": "3,5"}, "got '3,5' \\(a decimal comma\\? write numbers with a decimal point\\)"),
    ({"age": True}, "row 0, field 'age': expected a number"),
    ({"age": [1]}, "row 0, field 'age': expected a number"),
    ({"zip": {"a": 1}}, "row 0, field 'zip': expected a string or a number"),
    ({"age": 10**400}, r"row 0, field 'age': 1000.*\(401 characters\) is beyond the range"),
    ({"age": "x" * 10**6}, r"got 'xxx.*\.\.\. \(1,000,002 characters\)$"),
    ({"zip": 10**5000}, "row 0, field 'zip': an integer of over 4,300 digits"),
    ({"tags": "red|wool"}, "row 0, field 'tags': expected a list of values"),
])
def test_values_that_cannot_be_meant_are_refused_with_row_and_field(row, message):
    specs = [FieldSpec(name="zip", kind="categorical"), FieldSpec(name="age", kind="numeric"),
             FieldSpec(name="tags", kind="multi")]
    schema = FeatureSchema.fit(pa.table({"zip": ["1"], "age": [1.0], "tags": [["x"]]}), specs)
    with pytest.raises(RowError, match=message):
        RowEncoder(schema).encode_rows([row])

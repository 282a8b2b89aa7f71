import numpy as np
import pyarrow as pa
import pytest

from elec.config import FieldSpec
from elec.data.encoder import MISSING, OOV, RowEncoder
from elec.data.schema import FeatureSchema
from elec.errors import DataError

SPECS = [
    FieldSpec(name="city", kind="categorical", min_count=2),
    FieldSpec(name="age", kind="numeric", boundaries=[18, 30]),
    FieldSpec(name="tags", kind="multi", max_len=2),
    FieldSpec(name="title", kind="text"),
]
TRAIN = pa.table({"city": ["a", "a", "b", None], "age": [10, 20, 40, None],
                  "tags": [["x", "y", "z"], ["x"], [], None], "title": ["t"] * 4})


def test_unseen_and_rare_categories_go_to_the_oov_bucket():
    schema = FeatureSchema.fit(TRAIN, SPECS)
    encoded = RowEncoder(schema).encode_table(pa.table({
        "city": ["a", "b", "zzz", None], "age": [1, 18, 30, 99],
        "tags": [["x"], ["q"], [], None], "title": ["t"] * 4}))
    city = encoded.single[:, 0]
    assert city.tolist() == [2, OOV, OOV, MISSING]  # "b" seen once < min_count 2


def test_ids_only_unlabeled_rows_carry_get_their_own_rows_numeric_buckets_do_not_move():
    fresh = pa.table({"city": ["c", "c", "d"], "age": [1000, 2000, 3000],
                      "tags": [["new"], ["new"], []], "title": ["t"] * 3})
    quantiles = FieldSpec(name="age", kind="numeric", n_buckets=2)
    specs = [*SPECS[:1], quantiles, *SPECS[2:]]
    schema = FeatureSchema.fit(TRAIN, specs, unlabeled=fresh)
    # "c": twice in the unlabeled rows (min_count 2); "b" once in train, "d" once in fresh
    assert schema.fields[0].vocab == ["a", "c"]
    assert "new" in schema.fields[2].vocab
    assert schema.fields[1].boundaries == FeatureSchema.fit(TRAIN, specs).fields[1].boundaries
    encoded = RowEncoder(schema).encode_table(fresh)
    assert encoded.single[:, 0].tolist() == [3, 3, OOV]


def test_numeric_bucketing_and_missing():
    schema = FeatureSchema.fit(TRAIN, SPECS)
    encoded = RowEncoder(schema).encode_table(TRAIN)
    assert encoded.single[:, 1].tolist() == [1, 2, 3, MISSING]
    assert schema.fields[1].size == 4


def test_multi_valued_fields_pad_and_truncate():
    schema = FeatureSchema.fit(TRAIN, SPECS)
    tags = RowEncoder(schema).encode_table(TRAIN).multi[0]
    assert tags.shape == (4, 2)
    assert tags[0].tolist() == [2, 3] and tags[2].tolist() == [0, 0]


def test_text_fields_are_not_tabular_and_schema_round_trips_through_json(tmp_path):
    schema = FeatureSchema.fit(TRAIN, SPECS)
    assert schema.names == ["city", "age", "tags"]
    schema.save(tmp_path / "schema.json")
    again = FeatureSchema.load(tmp_path / "schema.json")
    a, b = RowEncoder(schema).encode_table(TRAIN), RowEncoder(again).encode_table(TRAIN)
    np.testing.assert_array_equal(a.single, b.single)
    np.testing.assert_array_equal(a.multi[0], b.multi[0])


def test_quantile_buckets_fitted_on_train():
    spec = FieldSpec(name="x", kind="numeric", n_buckets=4)
    schema = FeatureSchema.fit(pa.table({"x": list(range(100))}), [spec])
    assert len(schema.fields[0].boundaries) == 3
    ids = RowEncoder(schema).encode_table(pa.table({"x": [0, 30, 60, 99]})).single[:, 0]
    assert ids.tolist() == [1, 2, 3, 4]


def test_a_non_number_in_a_numeric_column_names_the_row():
    schema = FeatureSchema.fit(TRAIN, SPECS)
    bad = pa.table({"city": ["a"] * 3, "age": ["1", "2", "abc"], "tags": [[]] * 3,
                    "title": ["t"] * 3})
    with pytest.raises(DataError, match=r"row 2, field 'age': expected a number, got 'abc'"):
        RowEncoder(schema).encode_table(bad)

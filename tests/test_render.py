import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elec.config import FieldSpec, TextConfig
from elec.errors import DataError
from elec.text.render import render_rows, render_table, truncate

SPECS = [
    FieldSpec(name="user_id", kind="categorical", in_text=False),
    FieldSpec(name="age", kind="numeric", display="Age"),
    FieldSpec(name="gender", kind="categorical", display="Gender"),
    FieldSpec(name="title", kind="text", display="Movie title"),
    FieldSpec(name="genres", kind="multi", display="Genres"),
]


def table(**overrides):
    row = {"user_id": "7", "age": 24, "gender": "female", "title": "Toy Story (1995)",
           "genres": ["Animation", "Comedy"], **overrides}
    return pa.Table.from_pylist([row])


def test_renders_one_sentence_per_field_in_order_and_skips_ids():
    assert render_table(table(), SPECS, TextConfig()) == [
        "Age is 24. Gender is female. Movie title is Toy Story (1995). "
        "Genres are Animation, Comedy."]


def test_missing_values_are_skipped_and_single_value_lists_read_is():
    rendered = render_table(table(gender=None, genres=["Drama"]), SPECS, TextConfig())
    assert rendered == ["Age is 24. Movie title is Toy Story (1995). Genres is Drama."]


def test_configured_order_and_unknown_field():
    assert render_table(table(), SPECS, TextConfig(fields=["gender", "age"])) == [
        "Gender is female. Age is 24."]
    with pytest.raises(DataError, match="not in the config's fields"):
        render_table(table(), SPECS, TextConfig(fields=["nope"]))


def test_default_field_name_is_humanised():
    spec = FieldSpec(name="zip_prefix", kind="categorical")
    assert render_table(pa.Table.from_pylist([{"zip_prefix": "55"}]), [spec],
                        TextConfig()) == ["Zip prefix is 55."]


def test_truncation_summariser_cuts_at_a_word():
    assert truncate(12)("a long movie description") == "a long movie..."
    assert truncate(50)("short") == "short"


def test_template_and_separator():
    spec = FieldSpec(name="history", kind="multi", tabular=False, display="Recently watched",
                     separator="; ", template="{label}: {value}.")
    rows = pa.Table.from_pylist([{"history": ["Heat (1995), rated 5", "Up (2009), rated 4"]}])
    assert render_table(rows, [spec], TextConfig()) == [
        "Recently watched: Heat (1995), rated 5; Up (2009), rated 4."]


VALUES = {
    "age": st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_infinity=False)),
    "gender": st.one_of(st.none(), st.just(""), st.text(max_size=30)),
    "title": st.one_of(st.none(), st.text(max_size=400)),
    "genres": st.one_of(st.none(), st.lists(st.one_of(st.none(), st.just(""),
                                                      st.text(min_size=1, max_size=12)),
                                            max_size=4)),
}
TYPES = {"age": pa.float64(), "gender": pa.string(), "title": pa.string(),
         "genres": pa.list_(pa.string())}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries(VALUES), min_size=1, max_size=6))
def test_rendering_reads_values_as_the_encoder_does_and_keeps_its_budget(rows):
    import json
    import math

    from elec.data.values import is_missing

    texts = render_table(pa.table({k: pa.array([r[k] for r in rows], type=t)
                                   for k, t in TYPES.items()}), SPECS, TextConfig(max_chars=50))
    # serving renders JSON rows: the same texts
    request = json.loads(json.dumps(rows))
    assert render_rows(request, SPECS[1:], truncate(50)) == texts
    for row, text in zip(rows, texts, strict=True):
        present = [s for s in SPECS[1:] if not is_missing(row[s.name]) and not (
            isinstance(row[s.name], list) and all(is_missing(v) for v in row[s.name]))]
        starts = [text.find(f"{s.label} is") if s.name != "genres" else
                  max(text.find("Genres is"), text.find("Genres are")) for s in present]
        assert all(k >= 0 for k in starts) and starts == sorted(starts), (row, text)
        if not present:
            assert text == ""
        age = row["age"]
        if isinstance(age, float) and not math.isnan(age) and age.is_integer() and abs(age) < 1e15:
            assert f"Age is {int(age)}." in text  # 3.0 reads as 3, as the encoder keys it
        title = row["title"]
        if title:
            assert len(text) <= sum(len(s.label) + 60 for s in present) + 4 * 50


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries(VALUES), min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=1, max_size=30),
       st.lists(st.one_of(st.none(), st.lists(st.integers(-5, 5), max_size=3)), min_size=4,
                max_size=4))
def test_item_texts_rendered_once_per_distinct_values_equal_every_rows_own(pool, picks, years):
    """render_items renders each distinct combination of values once; every row still
    reads exactly the text rendered from its own values (-0.0 and 0.0, NaN, "" and None,
    [] and None, lists of numbers)."""
    from elec.text.items import render_items

    rows = [{**pool[i % len(pool)], "years": years[i]} for i in picks]
    types = {**TYPES, "years": pa.list_(pa.int64())}
    table = pa.table({k: pa.array([r[k] for r in rows], type=t) for k, t in types.items()})
    fields = [*SPECS[1:], FieldSpec(name="years", kind="multi", display="Years")]
    assert render_items(table, fields, TextConfig()) == render_rows(
        table.to_pylist(), fields, truncate(TextConfig().max_chars))

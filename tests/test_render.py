import pyarrow as pa
import pytest

from elec.config import FieldSpec, TextConfig
from elec.errors import DataError
from elec.text.render import render_table, truncate

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

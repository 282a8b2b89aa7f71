"""Reading users' files: delimiters, quoted newlines, a BOM, compression, directories,
globs, and one clear message for what cannot be read."""

import gzip
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elec.data.files import input_files, read_table
from elec.errors import DataError


def _reviews(rows: int) -> str:
    """A product-review export: quoted cells spanning lines, the delimiter inside quotes."""
    lines = ["id;review;stars"]
    for i in range(rows):
        lines.append(f'{i};"line one of review {i}; still quoted\nline two, ""quoted""";{i % 5}')
    return "\n".join(lines) + "\n"


def test_a_large_csv_with_quoted_newlines_a_bom_and_gzip_is_read_whole(tmp_path):
    text = "\ufeff" + _reviews(30_000)  # over 1 MB: read in parallel blocks
    assert len(text.encode()) > 1_500_000
    plain, packed = tmp_path / "reviews.csv", tmp_path / "reviews.csv.gz"
    plain.write_text(text, encoding="utf-8")
    with gzip.open(packed, "wt", encoding="utf-8") as out:
        out.write(text)
    for path in (plain, packed):
        table = read_table(path)
        assert table.column_names == ["id", "review", "stars"]  # no BOM in the name
        assert table.num_rows == 30_000
        assert table["review"][29_999].as_py() == ('line one of review 29999; still quoted\n'
                                                   'line two, "quoted"')


def test_tsv_pipe_directories_and_globs(tmp_path):
    (tmp_path / "a.tsv").write_text("x\ty\n1\tp|q\n")
    assert read_table(tmp_path / "a.tsv")["y"].to_pylist() == ["p|q"]
    (tmp_path / "b.txt").write_text("x|y\n1|2\n3|4\n")
    assert read_table(tmp_path / "b.txt")["y"].to_pylist() == [2, 4]
    for packed in ("c.csv.zst", "c.csv.bz2"):
        with pa.output_stream(str(tmp_path / packed), compression="detect") as out:
            out.write(b"x;y\n1;2\n")
        assert read_table(tmp_path / packed).to_pylist() == [{"x": 1, "y": 2}]
    parts = tmp_path / "parts"
    parts.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"x": [i, i]}), parts / f"part-{i}.parquet")
    (parts / "README.md").write_text("not data")
    assert read_table(parts)["x"].to_pylist() == [0, 0, 1, 1, 2, 2]
    assert len(input_files(str(parts / "part-[01].parquet"))) == 2
    with pytest.raises(DataError, match="no .parquet, .csv or .tsv file in this pattern"):
        input_files(str(tmp_path / "nothing-*.csv"))
    with pytest.raises(DataError, match="expected a .parquet, .csv or .tsv file"):
        input_files(parts / "README.md")


def test_a_file_that_cannot_be_read_is_named_with_its_row_and_what_to_check(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("a,b\n" + "1,2\n" * 5000 + "3,4,5\n")
    with pytest.raises(DataError) as caught:
        read_table(path)
    message = str(caught.value)
    assert str(path) in message and "row 5,002 (counting the header)" in message
    assert "Expected 2 columns, got 3" in message and "delimiter ','" in message
    assert "Traceback" not in message
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="fake.parquet.*check that it is a complete Parquet"):
        read_table(fake)


def test_text_that_is_not_utf8_and_a_cut_gzip_are_named_with_the_remedy(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("city,click\nZürich,1\nCafé,0\n".encode("latin-1"))
    with pytest.raises(DataError, match="column 'city' is not UTF-8 text.*save the file as UTF-8"):
        read_table(latin)
    cut = tmp_path / "cut.csv.gz"
    packed = gzip.compress("".join(f"{k},{k * 7919 % 1009}\n" for k in range(20_000)).encode())
    cut.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(DataError, match="cut.csv.gz' cannot be read.*cut short or damaged"):
        read_table(cut)


def test_a_multi_valued_csv_column_is_cut_at_its_split_the_same_for_training_and_serving(
        tmp_path):
    from elec.config import FieldSpec
    from elec.data.encoder import RowEncoder
    from elec.data.schema import FeatureSchema
    from elec.text.render import sentence, truncate

    path = tmp_path / "items.csv"
    path.write_text("id,tags,label\n1,red|wool,1\n2,wool,0\n3,,1\n4,red|silk|,0\n")
    table = read_table(path)
    spec = FieldSpec(name="tags", kind="multi", split="|", max_len=3)
    schema = FeatureSchema.fit(table, [spec])
    assert schema.fields[0].vocab == ["red", "silk", "wool"]
    encoder = RowEncoder(FeatureSchema.from_dict(schema.to_dict()))  # as a bundle has it
    by_table = encoder.encode_table(table).multi[0]
    by_rows = encoder.encode_rows(table.to_pylist()).multi[0]
    assert (by_table == by_rows).all()
    assert by_table.tolist() == [[2, 4, 0], [4, 0, 0], [0, 0, 0], [2, 3, 0]]
    assert sentence(spec, "red|wool", truncate(100)) == "Tags are red, wool."
    with pytest.raises(DataError, match=re.escape("for text such as 'red|wool', set the "
                                                  "field's split: '|'")):
        FeatureSchema.fit(table, [FieldSpec(name="tags", kind="multi")])
    with pytest.raises(ValueError, match="needs kind: multi"):
        FieldSpec(name="tags", kind="categorical", split="|")

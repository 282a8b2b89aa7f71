"""MovieLens-1M from the files a user has on disk: the unpacked ``ml-1m.zip``.

    data: {dataset: ~/data/ml-1m, loader: ml-1m}

The folder holds ``ratings.dat`` (UserID::MovieID::Rating::Timestamp), ``users.dat``
(UserID::Gender::Age::Occupation::Zip-code) and ``movies.dat`` (MovieID::Title::Genres,
genres cut by '|'), Latin-1 text. They become the same samples as MovieLens-100K's
(``movielens.samples``): user and movie fields joined to every rating, the occupation
as words rather than its code, the release year taken from the title.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from elec.data import movielens
from elec.errors import DataError

NAME = "ml-1m"
PUBLIC_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
FILES = ("ratings.dat", "users.dat", "movies.dat")
# the dataset's README: occupations are stored as codes
OCCUPATIONS = ["other", "academic/educator", "artist", "clerical/admin", "college/grad student",
               "customer service", "doctor/health care", "executive/managerial", "farmer",
               "homemaker", "K-12 student", "lawyer", "programmer", "retired",
               "sales/marketing", "scientist", "self-employed", "technician/engineer",
               "tradesman/craftsman", "unemployed", "writer"]
YEAR = re.compile(r"\((\d{4})\)\s*$")


def _lines(path: Path, fields: int) -> list[list[str]]:
    rows = []
    with path.open(encoding="latin-1") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = line.rstrip("\r\n").split("::")
            if len(row) != fields:
                raise DataError(f"{str(path)!r}, line {number:,}: expected {fields} values "
                                f"cut by '::', got {len(row)}; is this MovieLens-1M's "
                                f"{path.name}?")
            rows.append(row)
    return rows


def _integers(rows: list[list[str]], column: int, path: Path) -> pa.Array:
    try:
        return pa.array([int(row[column]) for row in rows], type=pa.int64())
    except ValueError as error:
        raise DataError(f"{str(path)!r}: {error}; MovieLens-1M's ids, ratings and times are "
                        f"integers") from None


def load_tables(directory: Path) -> dict[str, pa.Table]:
    """The canonical ratings, users and items tables of ``movielens`` from the .dat files."""
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise DataError(f"{str(directory)!r} has no {', '.join(missing)}: data.dataset must be "
                        f"the folder of the unpacked MovieLens-1M archive ({PUBLIC_URL}), "
                        f"which holds {', '.join(FILES)}")
    paths = {name: directory / name for name in FILES}
    ratings = _lines(paths["ratings.dat"], 4)
    users = _lines(paths["users.dat"], 5)
    movies = _lines(paths["movies.dat"], 3)
    occupation = []
    for row in users:
        code = int(row[3]) if row[3].isdigit() else -1
        if not 0 <= code < len(OCCUPATIONS):
            raise DataError(f"{str(paths['users.dat'])!r}: occupation code {row[3]!r} of user "
                            f"{row[0]} is not one of MovieLens-1M's 0-20")
        occupation.append(OCCUPATIONS[code])
    years = [YEAR.search(row[1]) for row in movies]
    return {
        "ratings": pa.table({name: _integers(ratings, i, paths["ratings.dat"]) for i, name
                             in enumerate(("user_id", "item_id", "rating", "timestamp"))}),
        "users": pa.table({
            "user_id": _integers(users, 0, paths["users.dat"]),
            "age": _integers(users, 2, paths["users.dat"]),  # 1, 18, 25, ...: a range's start
            "gender": [row[1] for row in users], "occupation": occupation,
            "zip_code": [row[4] for row in users]}),
        "items": pa.table({
            "item_id": _integers(movies, 0, paths["movies.dat"]),
            "title": [row[1] for row in movies],
            "release_year": pa.array([int(y.group(1)) if y else None for y in years],
                                     type=pa.int64()),
            "genres": pa.array([row[2].split("|") if row[2] else [] for row in movies],
                               type=pa.list_(pa.string()))}),
    }


def samples(directory: Path, history: int = 0) -> pa.Table:
    """One row per rating, with the columns of ``movielens.samples``."""
    return movielens.samples(load_tables(directory), history=history)

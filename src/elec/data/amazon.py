"""Amazon Reviews 2023 (McAuley Lab) category files from the user's disk.

    data: {dataset: ~/data/amazon/All_Beauty.jsonl.gz, loader: amazon-reviews-2023}

A category is two JSON-lines files, optionally gzip-compressed: the reviews
(``All_Beauty.jsonl``: user_id, parent_asin, rating 1-5, timestamp in milliseconds, and
the review's own title and text) and the items' metadata beside them
(``meta_All_Beauty.jsonl``: title, main_category, categories, store, price, features,
description). data.dataset is the reviews file, or a folder holding one such pair.
Each review becomes a sample with its item's metadata joined in: the item's title,
categories, store and a short description are what the language model reads. The
review's title and text are not features: they are written after the interaction
they would predict.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from elec.errors import DataError

NAME = "amazon-reviews-2023"
PUBLIC_URL = "https://amazon-reviews-2023.github.io"
DESCRIPTION_CHARS = 300  # of the item's description, for the text


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else \
        path.open(encoding="utf-8")


def _records(path: Path):
    with _open(path) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{str(path)!r}, line {number:,}: not JSON ({error.msg}); "
                                f"each line must be one record (JSON lines)") from None


def locate(dataset: Path) -> tuple[Path, Path]:
    """The reviews file and its ``meta_`` file for ``dataset`` (a reviews file or a folder)."""
    if dataset.is_dir():
        reviews = sorted(p for p in dataset.iterdir() if not p.name.startswith("meta_")
                         and p.name.endswith((".jsonl", ".jsonl.gz")))
        if len(reviews) != 1:
            raise DataError(f"{str(dataset)!r} holds {len(reviews)} reviews files "
                            f"({', '.join(p.name for p in reviews) or 'none'}); set "
                            f"data.dataset to one of them (Amazon Reviews 2023 files: "
                            f"{PUBLIC_URL})")
        dataset = reviews[0]
    if not dataset.is_file():
        raise DataError(f"{str(dataset)!r} does not exist: download a category's reviews and "
                        f"meta files from {PUBLIC_URL} and set data.dataset to the reviews file")
    meta = dataset.with_name("meta_" + dataset.name)
    if not meta.is_file():
        raise DataError(f"{str(dataset)!r} has no item metadata beside it: expected "
                        f"{meta.name} in the same folder ({PUBLIC_URL})")
    return dataset, meta


def _price(value) -> float | None:
    try:
        price = float(str(value).replace("$", "").replace(",", ""))
    except (TypeError, ValueError):  # null, "None", "from 9.99 to 19.99"
        return None
    return price if np.isfinite(price) else None


def _items(meta: Path) -> dict[str, dict]:
    items = {}
    for record in _records(meta):
        description = " ".join(record.get("description") or [])
        items[record["parent_asin"]] = {
            "title": record.get("title") or None,
            "main_category": record.get("main_category") or None,
            "categories": [c for c in record.get("categories") or [] if c],
            "store": record.get("store") or None,
            "price": _price(record.get("price")),
            "description": description[:DESCRIPTION_CHARS] or None,
        }
    return items


def samples(dataset: Path) -> pa.Table:
    """One row per review: user_id, item_id, the item's metadata, timestamp (seconds),
    rating. Reviews of items without metadata keep empty item fields."""
    reviews_path, meta_path = locate(dataset)
    items = _items(meta_path)
    columns: dict[str, list] = {name: [] for name in (
        "user_id", "item_id", "title", "main_category", "categories", "store", "price",
        "description", "timestamp", "rating")}
    empty = dict.fromkeys(("title", "main_category", "store", "price", "description"))
    empty["categories"] = []
    for number, review in enumerate(_records(reviews_path), 1):
        missing = [key for key in ("user_id", "parent_asin", "rating", "timestamp")
                   if review.get(key) is None]
        if missing:
            raise DataError(f"{str(reviews_path)!r}, line {number:,}: no {missing[0]!r}; is "
                            f"this an Amazon Reviews 2023 reviews file?")
        item = items.get(review["parent_asin"], empty)
        columns["user_id"].append(review["user_id"])
        columns["item_id"].append(review["parent_asin"])
        for key, value in item.items():
            columns[key].append(value)
        columns["timestamp"].append(int(review["timestamp"]) // 1000)
        columns["rating"].append(float(review["rating"]))
    if not columns["user_id"]:
        raise DataError(f"{str(reviews_path)!r} holds no reviews")
    return pa.table({**columns, "categories": pa.array(columns["categories"],
                                                       type=pa.list_(pa.string()))})

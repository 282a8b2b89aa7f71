"""A Criteo-like synthetic table whose achievable AUC is known, for tests and benchmarks.

    elec data synth --rows 2000000 --out data/synth
    elec data synth --rows 200000 --titles meaning --out data/synth-meaning

13 numeric fields (``I1``..``I13``, heavy-tailed counts, some missing) and 26
categorical ones (``C1``..``C26``, Zipf-distributed ids, 10 to 100,000 values), plus an
item (``item_id``, Zipf over 20,000 items: a long tail of rare ones) with a short
``title``. The click probability is planted: per-id effects on some fields, pairwise
interactions between others, two numeric trends, and the item's appeal. A frequent
item's appeal is learnt from its id; a rare item's is in its title only.

Two kinds of titles (``titles``):
- ``words``: the appeal is the mean of the title words' weights, so the words themselves
  suffice (a bag of the training rows' words can learn it, an LM need not);
- ``meaning``: the appeal is the mean of the weights of latent attributes (warmth, speed,
  size, ...), each written in one of twelve wordings ("cozy", "snug", "toasty", ...).
  One item in ten, of any popularity, is new: no training row holds it (its rows are in
  valid and test only). Popular items are written mostly with an attribute's three
  common wordings, the other known items (the tail) mostly with six others, and the new
  items mostly with the last three, which no training item uses: a bag of the training
  rows' words can learn the tail's wordings from the tail's rows taken together, but
  knows nothing of a new item's; a model that knows "balmy" is near "cozy" can carry
  an attribute's weight over to it.

``synth.json`` holds the generating settings and the AUC of the true probability (the
best any model can do) on each split, and on the valid and test rows of rare items
(under 10 training rows) and of new ones (none). Rows are generated and written shard
by shard: memory does not grow with ``rows``, and the table is the same for the same
seed and shard size.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from elec.data.splits import SPLITS
from elec.data.store import atomic_dir
from elec.errors import ConfigError

NUMERIC = [f"I{i}" for i in range(1, 14)]
CATEGORICAL = [f"C{i}" for i in range(1, 27)]
ITEM, TITLE, LABEL = "item_id", "title", "label"
# title words: their weights are the item's appeal
_WORDS = ("red blue green black white golden silver wooden leather cotton classic modern "
         "vintage compact portable wireless smart solar electric manual heavy light mini "
         "deluxe premium budget family travel kitchen garden office gaming sport outdoor "
         "winter summer organic fresh frozen spicy sweet salty crunchy soft warm cool "
         "quiet loud fast slow tiny giant royal rustic urban retro neon pastel bright "
         "dark shiny matte smooth rough fancy plain handmade digital analog magnetic "
         "foldable waterproof durable fragile elegant sturdy cozy bold lucky happy")
WORDS = _WORDS.split()
ITEMS = 20_000
# the meaning variant: latent attributes, each in twelve wordings, the first three common
ATTRIBUTES = {
    "warmth": "cozy warm snug toasty comfy fleecy woolly thermal insulated heated fuzzy "
              "balmy",
    "cold": "cool icy chilled frosty frozen wintry arctic glacial crisp refreshing breezy "
            "nippy",
    "speed": "fast quick rapid speedy swift express brisk nimble zippy hasty turbo fleet",
    "small": "small mini tiny compact petite little miniature pocket slim dinky teeny wee",
    "large": "large big huge giant massive jumbo enormous oversized spacious roomy vast "
             "hefty",
    "price": "cheap budget affordable bargain discount economy thrifty inexpensive frugal "
             "economical lowcost reasonable",
    "luxury": "luxury premium deluxe lavish opulent upscale exclusive posh sumptuous swanky "
              "ritzy classy",
    "age": "vintage retro antique classic nostalgic timeless heritage rustic traditional "
           "oldschool bygone archaic",
    "novelty": "modern sleek futuristic contemporary innovative hightech advanced novel "
               "trendy newfangled cutting-edge state-of-the-art",
    "strength": "durable sturdy rugged tough robust solid reinforced unbreakable resilient "
                "hardy stout indestructible",
    "fragility": "fragile delicate flimsy dainty brittle frail thin feeble breakable wispy "
                 "rickety shaky",
    "quiet": "quiet silent hushed noiseless calm peaceful muted tranquil soundless still "
             "serene whispering",
    "loud": "loud noisy booming thunderous deafening roaring blaring raucous rowdy clamorous "
            "earsplitting resounding",
    "taste": "tasty delicious yummy savory flavorful scrumptious delectable appetizing "
             "succulent luscious mouthwatering gourmet",
    "green": "organic natural eco sustainable recycled biodegradable renewable compostable "
             "ecological wholesome herbal earthy",
    "light": "bright shiny glowing radiant brilliant luminous gleaming dazzling sparkling "
             "vivid glittering lustrous",
}
COMMON_WORDINGS = 3  # of each attribute's twelve: what popular items mostly use
HELD_OUT = 9  # wordings from the tenth on: only new items use them
POPULAR_ITEMS = 1_000  # the items of highest popularity (most of the rows)
NEW_ITEMS = 0.1  # the share of items (of any popularity) that no training row holds
USUAL = 0.9  # how often an item takes a wording of its own kind (else a common one)
_NOUNS = ("jacket lamp kettle chair backpack blanket mug speaker sofa boots scarf desk tent "
          "bottle watch pillow heater fan blender toaster rug candle stool basket")
NOUNS = _NOUNS.split()
APPEAL = 1.2  # the appeal's weight in the click logit
RARE_BELOW = 10  # training rows: an item with fewer is rare (slices of synth.json)


@dataclass(frozen=True)
class SynthConfig:
    rows: int
    seed: int = 0
    shard_rows: int = 250_000
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    zipf: float = 1.1
    bias: float = -1.3  # base logit: a click rate near 0.25
    titles: Literal["words", "meaning"] = "words"

    def __post_init__(self) -> None:
        if self.titles not in ("words", "meaning"):
            raise ConfigError(f"titles {self.titles!r}: use words or meaning")


def _zipf_cdf(size: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return np.cumsum(weights) / weights.sum()


class _World:
    """What is fixed across rows: cardinalities, effect tables, items and their titles."""

    def __init__(self, cfg: SynthConfig):
        rng = np.random.default_rng([cfg.seed, 0])
        self.sizes = np.geomspace(10, 100_000, len(CATEGORICAL)).astype(np.int64)
        rng.shuffle(self.sizes)
        self.cdfs = [_zipf_cdf(int(s), cfg.zipf) for s in self.sizes]
        # first-order effects on C1..C8, interactions C9xC10 .. C15xC16 (hashed table)
        self.first = {i: rng.normal(0, 0.6, int(self.sizes[i])) for i in range(8)}
        self.pairs = [(8 + 2 * k, 9 + 2 * k) for k in range(4)]
        self.pair_table = rng.normal(0, 0.5, (len(self.pairs), 1 << 16))
        self.word_weight = rng.normal(0, 1.0, len(WORDS))
        lengths = rng.integers(2, 5, ITEMS)
        self.title_words = [rng.choice(len(WORDS), size=n, replace=False) for n in lengths]
        self.appeal = np.array([self.word_weight[w].mean() for w in self.title_words])
        self.titles = np.array([" ".join(WORDS[i] for i in w).capitalize()
                                for w in self.title_words], dtype=object)
        self.item_cdf = _zipf_cdf(ITEMS, cfg.zipf)
        self.item_order = rng.permutation(ITEMS)  # popularity rank -> item
        self.train_item_cdf = self.item_cdf  # the items training rows are drawn from
        if cfg.titles == "meaning":  # a generator of its own: the words table stays as it is
            meaning = np.random.default_rng([cfg.seed, 2])
            self.new = meaning.random(ITEMS) < NEW_ITEMS  # items no training row holds
            weights = np.diff(self.item_cdf, prepend=0.0) * ~self.new[self.item_order]
            self.train_item_cdf = np.cumsum(weights) / weights.sum()
            self.appeal, self.titles = _meaning_titles(meaning, self.item_order, self.new)


def _meaning_titles(rng: np.random.Generator, item_order: np.ndarray, new: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Every item's appeal (the mean of its two or three attributes' weights) and its
    title: one wording per attribute, then a noun that carries no appeal. An attribute's
    twelve wordings are three common ones, six others and three held out: the popular
    items take a common wording, the other known items one of the others, the new items
    one held out, each with probability USUAL (else a common one)."""
    wordings = [words.split() for words in ATTRIBUTES.values()]
    weight = rng.normal(0, 1.0, len(wordings))
    kind = np.ones(ITEMS, dtype=np.int64)  # 0 popular, 1 other known, 2 new
    kind[item_order[:POPULAR_ITEMS]] = 0
    kind[new] = 2
    tiers = [(0, COMMON_WORDINGS), (COMMON_WORDINGS, HELD_OUT), (HELD_OUT, len(wordings[0]))]
    appeal, titles = np.empty(ITEMS), np.empty(ITEMS, dtype=object)
    for item in range(ITEMS):
        chosen = rng.choice(len(wordings), size=rng.integers(2, 4), replace=False)
        usual = rng.random(len(chosen)) < USUAL
        words = [wordings[a][rng.integers(*tiers[kind[item] if u else 0])]
                 for a, u in zip(chosen, usual, strict=True)]
        appeal[item] = weight[chosen].mean()
        titles[item] = " ".join([*words, NOUNS[rng.integers(len(NOUNS))]]).capitalize()
    return appeal, titles


def _rows(world: _World, cfg: SynthConfig, shard: int, n: int, item_cdf: np.ndarray
          ) -> tuple[pa.Table, np.ndarray]:
    """Shard ``shard`` of the table, its items drawn by ``item_cdf`` (over popularity
    ranks), and the true click probability of its rows."""
    rng = np.random.default_rng([cfg.seed, 1, shard])
    columns: dict[str, pa.Array] = {}
    logit = np.full(n, cfg.bias)
    for i, name in enumerate(NUMERIC):
        values = np.floor(rng.lognormal(1.0 + 0.2 * i, 1.2, n))
        missing = rng.random(n) < 0.05
        if i == 0:
            logit += 0.35 * (np.log1p(values) - 2.0)
        if i == 1:
            logit -= 0.25 * (np.log1p(values) - 2.2)
        columns[name] = pa.array(values, mask=missing, type=pa.float64())
    for i, name in enumerate(CATEGORICAL):
        ids = np.searchsorted(world.cdfs[i], rng.random(n))
        if i in world.first:
            logit += world.first[i][ids]
        columns[name] = pa.array(ids, type=pa.int64())
    for k, (a, b) in enumerate(world.pairs):
        a_ids = np.asarray(columns[CATEGORICAL[a]])
        b_ids = np.asarray(columns[CATEGORICAL[b]])
        logit += world.pair_table[k][(a_ids * 40_503 + b_ids) & 0xFFFF]
    items = world.item_order[np.searchsorted(item_cdf, rng.random(n))]
    logit += APPEAL * world.appeal[items]
    columns[ITEM] = pa.array(items, type=pa.int64())
    columns[TITLE] = pa.array(world.titles[items], type=pa.string())
    probability = 1.0 / (1.0 + np.exp(-logit))
    columns[LABEL] = pa.array((rng.random(n) < probability).astype(np.int8))
    return pa.table(columns), probability


def split_rows(rows: int, fractions: tuple[float, float, float]) -> dict[str, int]:
    train = int(rows * fractions[0])
    valid = int(rows * fractions[1])
    return {"train": train, "valid": valid, "test": rows - train - valid}


def synthesize(cfg: SynthConfig, out: Path,
               progress: Callable[[str], None] = print) -> dict:
    """Write ``out/{train,valid,test}/part-*.parquet``, ``out/synth.json`` and
    ``out/elec.yaml`` (a run configuration for the table); return the summary."""
    world = _World(cfg)
    counts = split_rows(cfg.rows, cfg.fractions)
    summary: dict = {"format": "elec.synth/1", "config": asdict(cfg), "rows": counts,
                     "splits": {}}
    shard = 0
    with atomic_dir(out, replaces=lambda path: (path / "synth.json").is_file()) as staging:
        for split in SPLITS:  # train first: the slices of valid and test read its counts
            (staging / split).mkdir()
            labels, probabilities, items = [], [], []
            for start in range(0, counts[split], cfg.shard_rows):
                n = min(cfg.shard_rows, counts[split] - start)
                cdf = world.train_item_cdf if split == "train" else world.item_cdf
                table, probability = _rows(world, cfg, shard, n, cdf)
                pq.write_table(table, staging / split / f"part-{shard:05d}.parquet")
                labels.append(np.asarray(table[LABEL]))
                probabilities.append(probability.astype(np.float32))
                items.append(np.asarray(table[ITEM]))
                shard += 1
                progress(f"synth: {split} {start + n:,}/{counts[split]:,} rows")
            label, probability = np.concatenate(labels), np.concatenate(probabilities)
            item = np.concatenate(items)
            odds = np.log(probability) - np.log1p(-probability) - APPEAL * world.appeal[item]
            blind = 1.0 / (1.0 + np.exp(-odds))  # the true probability less the appeal
            summary["splits"][split] = _achievable(label, probability, blind)
            if split == "train":
                trained = np.bincount(item, minlength=ITEMS)  # training rows of every item
            else:
                summary["splits"][split]["slices"] = {
                    name: _achievable(label[rows], probability[rows], blind[rows])
                    for name, rows in (("rare", trained[item] < RARE_BELOW),
                                       ("new", trained[item] == 0))}
        summary["slices"] = {"rare": f"items with fewer than {RARE_BELOW} training rows",
                             "new": "items with no training row",
                             "achievable_auc_without_appeal": "the AUC of the true "
                             "probability less the item's appeal: what is left to a model that "
                             "cannot read the title"}
        (staging / "synth.json").write_text(json.dumps(summary, indent=2))
        (staging / "elec.yaml").write_text(run_config(out))
    return summary


def _achievable(label: np.ndarray, probability: np.ndarray, blind: np.ndarray) -> dict:
    """Rows, click rate and the AUC of the true probability, with and without the item's
    appeal (None without both classes)."""
    both = 0 < label.sum() < len(label)
    return {"rows": int(len(label)), "ctr": float(label.mean()) if len(label) else None,
            "achievable_auc": float(roc_auc_score(label, probability)) if both else None,
            "achievable_auc_without_appeal": float(roc_auc_score(label, blind)) if both
            else None}


def run_config(out: Path) -> str:
    """An ``elec run`` configuration for a synthetic table written to ``out``."""
    fields = [f"  - {{name: {n}, kind: numeric, in_text: false}}" for n in NUMERIC]
    fields += [f"  - {{name: {n}, kind: categorical, in_text: false}}" for n in CATEGORICAL]
    fields += [f"  - {{name: {ITEM}, kind: categorical, in_text: false}}",
               f"  - {{name: {TITLE}, kind: text, display: Title}}"]
    return "\n".join([
        "# a synthetic Criteo-like table written by `elec data synth`",
        "data:",
        f"  dataset: {out.resolve()}",
        "  split: files             # train/, valid/, test/ beside this file",
        f"  label: {LABEL}",
        "  label_threshold: null    # the label column is already 0/1",
        f"  item_column: {ITEM}",
        "  user_column: null",
        "fields:", *fields,
        "model:",
        "  name: deepfm",
        "  embedding_dim: 16",
        "  params: {hidden: [400, 400, 400], dropout: 0.2}",
        "train:",
        "  batch_size: 4096",
        ""])

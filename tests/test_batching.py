"""Micro-batching: concurrent requests scored together, each getting its own scores."""

import asyncio
import time

import numpy as np

from elec.data.values import RowError
from elec.serve.batching import MicroBatcher


class Scorer:
    """Scores a row as its "x"; refuses a row whose x is "bad"; records every pass."""

    def __init__(self, seconds: float = 0.0):
        self.passes: list[list[float]] = []
        self.seconds = seconds

    def __call__(self, rows):
        time.sleep(self.seconds)
        for i, row in enumerate(rows):
            if row["x"] == "bad":
                raise RowError(f"row {i}, field 'x': expected a number, got 'bad'")
        self.passes.append([row["x"] for row in rows])
        return np.array([row["x"] for row in rows], dtype=np.float32)


def test_concurrent_requests_share_passes_and_get_their_own_scores():
    scorer = Scorer(seconds=0.01)
    batcher = MicroBatcher(scorer, max_rows=64)

    async def main():
        return await asyncio.gather(*(batcher([{"x": float(i)}, {"x": i + 0.5}])
                                      for i in range(20)))

    answers = asyncio.run(main())
    for i, scores in enumerate(answers):
        np.testing.assert_array_equal(scores, [i, i + 0.5])
    # while one pass ran the others queued, and went together into the next
    assert len(scorer.passes) < 20 and batcher.passes == len(scorer.passes)
    assert max(len(p) for p in scorer.passes) > 2


def test_a_large_request_is_scored_in_slices_that_let_small_ones_through():
    scorer = Scorer(seconds=0.01)
    batcher = MicroBatcher(scorer, max_rows=4)

    async def main():
        large = asyncio.ensure_future(batcher([{"x": float(i)} for i in range(12)]))
        await asyncio.sleep(0)  # the large request is queued first
        small = await batcher([{"x": 100.0}])
        return await large, small

    large, small = asyncio.run(main())
    np.testing.assert_array_equal(large, np.arange(12))
    np.testing.assert_array_equal(small, [100.0])
    # the small request went out before the large one's last slice
    where = next(i for i, p in enumerate(scorer.passes) if 100.0 in p)
    last = next(i for i, p in enumerate(scorer.passes) if 11.0 in p)
    assert where < last and all(len(p) <= 4 for p in scorer.passes)


def test_a_bad_row_fails_its_own_request_named_by_its_place_there():
    scorer = Scorer(seconds=0.01)
    batcher = MicroBatcher(scorer, max_rows=4)

    async def main():
        return await asyncio.gather(
            batcher([{"x": 1.0}]),
            batcher([{"x": 2.0}, {"x": 3.0}, {"x": 4.0}, {"x": 5.0}, {"x": 6.0}, {"x": "bad"}]),
            batcher([{"x": 7.0}]), return_exceptions=True)

    good, bad, other = asyncio.run(main())
    np.testing.assert_array_equal(good, [1.0])
    np.testing.assert_array_equal(other, [7.0])
    assert isinstance(bad, RowError) and str(bad).startswith("row 5, field 'x'")
    assert asyncio.run(_empty(batcher)).shape == (0,)


async def _empty(batcher):
    return await batcher([])

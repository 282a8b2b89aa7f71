"""Micro-batching: concurrent requests scored together, each getting its own scores."""

import asyncio
import time

import numpy as np

from elec.serve.batching import MicroBatcher
from elec.serve.predictor import Encoded


def rows(*values: float) -> Encoded:
    """Encoded rows whose single id column holds ``values`` (the scorer echoes them)."""
    column = np.array(values, dtype=np.float64).reshape(-1, 1)
    return Encoded(column, np.zeros((len(values), 0)))


class Scorer:
    """Scores a row as its value; records every pass."""

    def __init__(self, seconds: float = 0.0):
        self.passes: list[list[float]] = []
        self.seconds = seconds

    def __call__(self, encoded: Encoded) -> np.ndarray:
        time.sleep(self.seconds)
        self.passes.append(encoded.single[:, 0].tolist())
        return encoded.single[:, 0].astype(np.float32)


def test_concurrent_requests_share_passes_and_get_their_own_scores():
    scorer = Scorer(seconds=0.01)
    batcher = MicroBatcher(scorer, max_rows=64)

    async def main():
        return await asyncio.gather(*(batcher(rows(i, i + 0.5)) for i in range(20)))

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
        large = asyncio.ensure_future(batcher(rows(*range(12))))
        await asyncio.sleep(0)  # the large request is queued first
        small = await batcher(rows(100.0))
        return await large, small

    large, small = asyncio.run(main())
    np.testing.assert_array_equal(large, np.arange(12))
    np.testing.assert_array_equal(small, [100.0])
    # the small request went out before the large one's last slice
    where = next(i for i, p in enumerate(scorer.passes) if 100.0 in p)
    last = next(i for i, p in enumerate(scorer.passes) if 11.0 in p)
    assert where < last and all(len(p) <= 5 for p in scorer.passes)


def test_a_failed_pass_fails_the_requests_in_it_and_the_next_pass_runs():
    calls = []

    def flaky(encoded: Encoded) -> np.ndarray:
        calls.append(len(encoded))
        if len(calls) == 1:
            raise RuntimeError("the runtime failed")
        return encoded.single[:, 0].astype(np.float32)

    batcher = MicroBatcher(flaky, max_rows=8)

    async def main():
        first = await asyncio.gather(batcher(rows(1.0)), return_exceptions=True)
        return first, await batcher(rows(2.0))

    (failed,), later = asyncio.run(main())
    assert isinstance(failed, RuntimeError)
    np.testing.assert_array_equal(later, [2.0])
    assert asyncio.run(_empty(batcher)).shape == (0,)


async def _empty(batcher):
    return await batcher(rows())

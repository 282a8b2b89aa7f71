"""Dynamic micro-batching inside one serving process: the rows of concurrent requests are
scored together, in one forward pass, up to ``max_rows`` rows or ``max_wait`` seconds
after the first; each request gets its own rows' scores back.

A large request is cut into slices of ``max_rows``, each queued when the last is scored,
so the small requests that arrive meanwhile are scored between its slices instead of
after all of it. One pass at a time runs, in a worker thread, so the event loop keeps
reading requests. A row the encoder refuses fails its own request alone: a merged pass
that fails is scored again request by request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from elec.data.schema import shifted
from elec.data.values import RowError


@dataclass
class _Slice:
    rows: Sequence[dict]
    first: int  # its first row's place in its request (for the messages)
    done: asyncio.Future


class MicroBatcher:
    def __init__(self, score: Callable[[Sequence[dict]], np.ndarray], max_rows: int = 256,
                 max_wait: float = 0.0):
        """``max_wait`` 0: no waiting; a pass takes the rows queued while the last one
        ran (under load they merge, alone a request is scored at once)."""
        self.score, self.max_rows, self.max_wait = score, max_rows, max_wait
        self.queue: asyncio.Queue[_Slice] | None = None
        self._loop = self._task = None
        self.passes = 0  # forward passes run (a count for tests and benchmarks)

    async def __call__(self, rows: Sequence[dict]) -> np.ndarray:
        """The scores of ``rows``, in order (a RowError names the row in ``rows``)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # made in the loop that serves (a test client's: anew)
            self._loop, self.queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run())
        scores = []
        for first in range(0, len(rows), self.max_rows):  # a slice queues when the last
            part = _Slice(rows[first:first + self.max_rows], first, loop.create_future())
            self.queue.put_nowait(part)  # is scored: requests that came meanwhile go first
            try:
                scores.append(await part.done)
            finally:  # a request given up on: its slice is skipped, not scored
                part.done.cancel()
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].rows)
            deadline = asyncio.get_running_loop().time() + self.max_wait
            while size < self.max_rows:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0 and self.queue.empty():
                    break
                try:
                    part = (self.queue.get_nowait() if not self.queue.empty() else
                            await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
                batch.append(part)
                size += len(part.rows)
            batch = [part for part in batch if not part.done.done()]  # not given up on
            if batch:
                await self._score(batch)

    async def _score(self, batch: list[_Slice]) -> None:
        rows = [row for part in batch for row in part.rows]
        try:
            scores = await run_in_threadpool(self.score, rows)
            self.passes += 1
        except RowError as error:
            if len(batch) == 1:
                _settle(batch[0].done, error=shifted(error, batch[0].first))
                return
            for part in batch:  # which request's row: each scored alone
                await self._score([part])
            return
        except Exception as error:  # noqa: BLE001 - handed to the requests that wait
            for part in batch:
                _settle(part.done, error=error)
            return
        start = 0
        for part in batch:
            _settle(part.done, scores[start:start + len(part.rows)])
            start += len(part.rows)


def _settle(future: asyncio.Future, value: object = None,
            error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)

"""Dynamic micro-batching inside one serving process: the rows of concurrent requests,
each encoded on its own, are scored together in one forward pass, up to ``max_rows``
rows or ``max_wait`` seconds after the first; each request gets its own rows' scores.

A large request is cut into slices of ``max_rows``, each queued when the last is scored,
so the small requests that arrive meanwhile are scored between its slices instead of
after all of it. One pass runs at a time, in a worker thread, so the event loop keeps
reading requests. Encoding (where a bad value is found and named) happens before a
request joins a pass, so a pass holds only rows that can be scored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from starlette.concurrency import run_in_threadpool

from elec.serve.predictor import Encoded


@dataclass
class _Slice:
    rows: Encoded
    done: asyncio.Future


class MicroBatcher:
    def __init__(self, score: Callable[[Encoded], np.ndarray], max_rows: int = 256,
                 max_wait: float = 0.0):
        """``max_wait`` 0: no waiting; a pass takes the rows queued while the last one
        ran (under load they merge, alone a request is scored at once)."""
        self.score, self.max_rows, self.max_wait = score, max_rows, max_wait
        self.queue: asyncio.Queue[_Slice] | None = None
        self._loop = self._task = None
        self.passes = 0  # forward passes run (a count for tests and benchmarks)

    async def __call__(self, rows: Encoded) -> np.ndarray:
        """The scores of ``rows``, in order."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # made in the loop that serves (a test client's: anew)
            self._loop, self.queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run())
        scores = []
        for first in range(0, len(rows), self.max_rows):  # a slice queues when the last
            part = _Slice(rows.part(first, first + self.max_rows), loop.create_future())
            self.queue.put_nowait(part)  # is scored: requests that came meanwhile go first
            try:
                scores.append(await part.done)
            finally:  # a request given up on: its slice is skipped, not scored
                part.done.cancel()
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0].rows)
            deadline = loop.time() + self.max_wait
            while size < self.max_rows:
                if self.queue.empty() and deadline <= loop.time():
                    break
                try:
                    part = (self.queue.get_nowait() if not self.queue.empty() else
                            await asyncio.wait_for(self.queue.get(), deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
                batch.append(part)
                size += len(part.rows)
            batch = [part for part in batch if not part.done.done()]  # not given up on
            if batch:
                await self._score(batch)

    async def _score(self, batch: list[_Slice]) -> None:
        try:
            scores = await run_in_threadpool(self.score, Encoded.concat([p.rows for p in batch]))
            self.passes += 1
        except Exception as error:  # noqa: BLE001 - handed to the requests that wait
            for part in batch:
                if not part.done.done():
                    part.done.set_exception(error)
            return
        start = 0
        for part in batch:
            if not part.done.done():
                part.done.set_result(scores[start:start + len(part.rows)])
            start += len(part.rows)

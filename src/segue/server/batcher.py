"""Continuous batching: requests that arrive while the model is busy wait for it together and are
decoded as one batch when it is free. A decoder step for sixteen rows costs about what four
single rows cost, so under load each request waits less (docs/benchmarks.md); a request that
finds the model idle starts at once. A batch is answered when all of it is: a continuation drawn
again to keep its pace (`generate.extend_batch`) holds up the others of its batch."""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ..modelfile import Model
from ..generate import Job, extend_batch
from ..notes import Note


class Batcher:
    """One per worker process: at most one batch computes at a time, off the event loop."""

    def __init__(self, checkpoint: Model, max_rows: int) -> None:
        self.checkpoint = checkpoint
        self.max_rows = max_rows  # bounds a batch's memory and the wait of those behind it
        self._waiting: deque[tuple[Job, asyncio.Future]] = deque()
        self._worker: asyncio.Task | None = None
        # One thread of its own, not the shared pool's 40: the same thread (and memory arena)
        # for every batch keeps the server's memory from growing with the pool.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segue-model")

    async def extend(self, job: Job) -> list[list[Note]]:
        """The job's continuations, decoded with whatever else is waiting."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        return await future

    def close(self) -> None:
        """Let the batch in progress finish; batches not started are dropped."""
        self._thread.shutdown(wait=True, cancel_futures=True)

    def _next_batch(self) -> list[tuple[Job, asyncio.Future]]:
        batch, rows = [], 0
        while self._waiting and (not batch or rows + self._waiting[0][0].variations <= self.max_rows):
            job, future = self._waiting.popleft()
            if not future.cancelled():  # its client hung up while waiting
                batch.append((job, future))
                rows += job.variations
        return batch

    async def _run(self) -> None:
        while batch := self._next_batch():
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, extend_batch, [job for job, _ in batch], self.checkpoint)
            except Exception as error:  # noqa: BLE001 - handed to each waiting request, which reports it
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

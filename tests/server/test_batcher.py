import asyncio

import pytest

from conftest import played
from segue.generate import extend, prepare
from segue.server import batcher as batcher_module
from segue.server.batcher import Batcher


@pytest.fixture
def batch_sizes(monkeypatch):
    """Records the jobs of each batch while the real decoder runs them."""
    sizes, real = [], batcher_module.extend_batch

    def recording(jobs, checkpoint):
        sizes.append([job.variations for job in jobs])
        return real(jobs, checkpoint)

    monkeypatch.setattr(batcher_module, "extend_batch", recording)
    return sizes


def requests():
    return [dict(notes=played([60, 62, 64 + i]), seed=i, variations=1 + i % 3, temperature=0.5 * i) for i in range(6)]


def test_requests_waiting_together_are_decoded_together_with_their_own_results(tiny_model, batch_sizes):
    batcher = Batcher(tiny_model, max_rows=64)

    async def all_at_once():
        jobs = [prepare(tokenizer=tiny_model.tokenizer, **request) for request in requests()]
        return await asyncio.gather(*(batcher.extend(job) for job in jobs))

    results = asyncio.run(all_at_once())
    assert batch_sizes == [[1, 2, 3, 1, 2, 3]]
    assert results == [extend(checkpoint=tiny_model, **request) for request in requests()]


def test_a_batch_holds_at_most_max_rows_and_the_rest_follow(tiny_model, batch_sizes):
    batcher = Batcher(tiny_model, max_rows=32)
    jobs = [prepare(played([60, 64, 67]), tiny_model.tokenizer, variations=v, seed=1) for v in (30, 2, 1, 32)]

    async def all_at_once():
        return await asyncio.gather(*(batcher.extend(job) for job in jobs))

    results = asyncio.run(all_at_once())
    assert batch_sizes == [[30, 2], [1], [32]]
    assert [len(r) for r in results] == [30, 2, 1, 32]


def test_a_request_whose_client_left_is_skipped_and_the_others_still_answered(tiny_model, batch_sizes):
    batcher = Batcher(tiny_model, max_rows=64)
    jobs = [prepare(played([60, 62]), tiny_model.tokenizer, seed=s) for s in range(3)]

    async def one_hangs_up():
        tasks = [asyncio.create_task(batcher.extend(job)) for job in jobs]
        await asyncio.sleep(0)  # all three are queued
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, second, third = asyncio.run(one_hangs_up())
    assert isinstance(second, asyncio.CancelledError)
    assert first and third and batch_sizes == [[1, 1]]

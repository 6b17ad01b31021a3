"""The worker's backoff against an unreachable server."""

from __future__ import annotations

from sluice.worker.presence import Backoff


def test_backoff_grows_exponentially_with_jitter_and_resets() -> None:
    backoff = Backoff(base=1.0, longest=8.0)
    pauses = [backoff.next() for _ in range(6)]
    for pause, ceiling in zip(pauses, (1, 2, 4, 8, 8, 8), strict=True):
        assert ceiling / 2 <= pause <= ceiling
    draws = {round(Backoff(1.0, 8.0).next(), 6) for _ in range(20)}
    assert len(draws) > 1, "jittered: workers do not retry in lockstep"
    backoff.reset()
    assert backoff.next() <= 1.0

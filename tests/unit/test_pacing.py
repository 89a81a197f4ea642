"""Pacing e-mail sends to the SES rate: spacing, slow-down on throttling, recovery, hand-back delays."""

from __future__ import annotations

import pytest
from clerk_sync.domain.pacing import FLOOR_RATE, Pacer, handback_delay, share_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_calls_are_spaced_by_the_rate_without_bursts():
    clock = Clock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)
    waits = [pacer.wait() for _ in range(5)]
    assert waits[0] == 0 and all(w == pytest.approx(0.1) for w in waits[1:])
    assert clock.now == pytest.approx(100.4)


def test_idle_time_is_not_banked_as_a_burst():
    clock = Clock()
    pacer = Pacer(2.0, clock=clock, sleep=clock.sleep)
    pacer.wait()
    clock.now += 10
    assert pacer.wait() == 0 and pacer.delay() == pytest.approx(0.5)


def test_throttling_halves_the_pace_and_successes_recover_it():
    pacer = Pacer(8.0)
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate == 2.0
    for _ in range(100):
        pacer.succeeded()
    assert pacer.rate == 8.0
    for _ in range(20):
        pacer.throttled()
    assert pacer.rate == FLOOR_RATE


def test_the_share_divides_the_account_rate_between_containers():
    assert share_of(14.0, 2) == pytest.approx(6.3) and share_of(20.0, 1) == pytest.approx(18.0)
    assert share_of(1.0, 1000) == FLOOR_RATE
    with pytest.raises(ValueError):
        Pacer(0)


def test_hand_back_delays_grow_and_stay_within_sqs_limits():
    assert [handback_delay(n) for n in range(1, 7)] == [30, 60, 120, 240, 480, 900]
    assert handback_delay(10_000) == 900 and handback_delay(0) == 30

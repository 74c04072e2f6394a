"""Retry policy: exponential backoff with jitter, vendor waits honoured and capped, limits."""

from __future__ import annotations

import httpx2
import pytest

from attribution.delivery.policy import (
    RetryPolicy,
    backoff_delay,
    is_ambiguous,
    out_of_time,
    parse_retry_after,
    retry_delay,
)
from attribution.errors import ConfigurationError

POLICY = RetryPolicy(base_delay=2.0, max_delay=60.0, max_retry_after=600.0, max_attempts=5, max_age=1000.0)


def test_backoff_doubles_and_keeps_half_its_step() -> None:
    assert [backoff_delay(n, POLICY, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [backoff_delay(n, POLICY, rand=lambda: 0.999) for n in (1, 2)] == pytest.approx([2.0, 4.0], 0.01)


def test_backoff_is_capped_even_after_many_attempts() -> None:
    assert backoff_delay(10_000, POLICY, rand=lambda: 1.0) == 60.0


def test_vendor_wait_is_honoured_then_capped() -> None:
    assert retry_delay(1, POLICY, after=30.0, rand=lambda: 0.0) == 30.0
    assert 30.0 <= retry_delay(1, POLICY, after=30.0, rand=lambda: 0.99) <= 33.0
    assert retry_delay(1, POLICY, after=10**9, rand=lambda: 0.0) == 600.0
    assert retry_delay(3, POLICY, after=None, rand=lambda: 0.0) == 4.0


def test_out_of_time_by_attempts_or_age() -> None:
    assert out_of_time(attempts=4, created_at=0.0, next_at=10.0, policy=POLICY) is None
    assert out_of_time(attempts=5, created_at=0.0, next_at=10.0, policy=POLICY) == "gave up after 5 attempts"
    assert "older than 1000s" in (out_of_time(attempts=1, created_at=0.0, next_at=1001.0, policy=POLICY) or "")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_746_480_000.0  # 2025-05-05 21:20:00 UTC
    assert parse_retry_after({"retry-after": " 120 "}, now=now) == 120.0
    assert parse_retry_after({"retry-after": "Mon, 05 May 2025 21:21:30 GMT"}, now=now) == 90.0
    assert parse_retry_after({"retry-after": "Mon, 05 May 2025 21:00:00 GMT"}, now=now) == 0.0  # already past


def test_retry_after_that_cannot_be_read_is_none() -> None:
    assert parse_retry_after({}, now=0.0) is None
    assert parse_retry_after({"retry-after": "soon"}, now=0.0) is None
    assert parse_retry_after({"retry-after": "\u00b2"}, now=0.0) is None  # a Unicode digit is not a number
    assert parse_retry_after({"retry-after": "-5"}, now=0.0) is None
    # X's rate-limit headers belong to X's adapter, not to every vendor.
    assert parse_retry_after({"x-rate-limit-reset": "1060"}, now=1000.0) is None


def test_which_transport_errors_are_ambiguous() -> None:
    assert not is_ambiguous(httpx2.ConnectError("refused"))
    assert not is_ambiguous(httpx2.ConnectTimeout("slow"))
    assert not is_ambiguous(httpx2.PoolTimeout("busy"))
    assert is_ambiguous(httpx2.ReadTimeout("slow"))
    assert is_ambiguous(httpx2.RemoteProtocolError("closed"))


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(base_delay=-1)

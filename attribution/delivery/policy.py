"""Retry policy as small pure functions: what to do after an attempt, and how long to wait.

Nothing here sends, sleeps or reads a clock: the worker passes the time and the random source in, so tests
decide both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx2

from ..errors import ConfigurationError
from ..vendors.retry_after import parse_retry_after as parse_retry_after  # its home is the ground-level module

Random = Callable[[], float]
"""A source of floats in [0, 1), like ``random.random``."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the worker tries before a delivery becomes dead.

    Attributes:
        max_attempts: attempts in all (the first one included) before a delivery becomes dead.
        max_age: seconds after checkout after which a delivery is dead rather than retried. Ad platforms
            ignore conversions older than a few days (Meta: 7), so trying for longer is wasted.
        base_delay: the wait before the first retry; it doubles at each attempt.
        max_delay: the cap on the exponential wait.
        max_retry_after: the cap on a wait the vendor asked for (``Retry-After``, rate-limit resets), so a
            bogus header cannot park a delivery for days.
    """

    max_attempts: int = 10
    max_age: float = 3 * 24 * 3600.0
    base_delay: float = 2.0
    max_delay: float = 30 * 60.0
    max_retry_after: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be at least 1")
        if min(self.max_age, self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ConfigurationError("RetryPolicy delays and ages must not be negative")


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Random = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

    Exponential with "equal jitter": half the exponential step is kept and the other half is random, so
    retries of many deliveries spread out while each still waits at least half its step.
    """
    step: float = min(policy.max_delay, policy.base_delay * 2.0 ** min(max(0, attempt - 1), 62))
    return step / 2 + rand() * step / 2


def retry_delay(
    attempt: int, policy: RetryPolicy, *, after: float | None = None, rand: Random = random.random
) -> float:
    """The wait before the next attempt: what the vendor asked for (capped) if it asked, else the backoff.

    A vendor's request is honoured in full up to ``max_retry_after``, plus up to 10% jitter so that deliveries
    told to come back at the same moment do not all return at once.
    """
    if after is not None and after >= 0:
        asked = min(after, policy.max_retry_after)
        return asked + rand() * asked * 0.1
    return backoff_delay(attempt, policy, rand)


def out_of_time(*, attempts: int, created_at: float, next_at: float, policy: RetryPolicy) -> str | None:
    """Why a delivery should not be retried at ``next_at`` after ``attempts`` attempts, or None if it may."""
    if attempts >= policy.max_attempts:
        return f"gave up after {attempts} attempts"
    if next_at - created_at > policy.max_age:
        return f"gave up: older than {policy.max_age:g}s"
    return None


def is_ambiguous(exc: httpx2.RequestError) -> bool:
    """Whether the request may have reached the vendor before ``exc``.

    A failure to connect, or to get a pooled connection, happens before a byte is sent: retrying is always
    safe. A timeout or a broken connection after that may follow a request the vendor already recorded.
    """
    return not isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)

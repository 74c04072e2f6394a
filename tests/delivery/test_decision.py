"""The decision after an attempt, as a pure function: no event loop, no clock, no outbox."""

from __future__ import annotations

from attribution.delivery.decision import decide
from attribution.delivery.outbox.base import Delivery, Status
from attribution.delivery.policy import RetryPolicy
from attribution.delivery.sending import DryRun
from attribution.vendors.base import Delivered, Failed, Resend, Retry

POLICY = RetryPolicy(max_attempts=3, max_age=1000.0, base_delay=2.0, max_delay=60.0, max_retry_after=100.0)
NOW = 10_000.0


def delivery(attempts: int = 1, created_at: float = NOW - 10) -> Delivery:
    return Delivery(
        id=7,
        vendor="fake",
        dedup_key="k",
        batch_key="",
        payload={},
        status=Status.SENDING,
        attempts=attempts,
        created_at=created_at,
        updated_at=NOW,
        next_attempt_at=NOW + 60,
    )


def no_jitter() -> float:
    return 0.0


def test_delivered_dead_and_dry_run_are_final_and_keep_what_the_operator_reads() -> None:
    finish, pause = decide(Delivered("ok"), delivery(), POLICY, NOW, rand=no_jitter)
    assert (finish.id, finish.status, finish.at, finish.answer, pause) == (7, Status.DELIVERED, NOW, "ok", None)
    finish, pause = decide(Failed("HTTP 400: bad currency"), delivery(), POLICY, NOW, rand=no_jitter)
    assert (finish.status, finish.error, pause) == (Status.DEAD, "HTTP 400: bad currency", None)
    finish, pause = decide(DryRun("POST http://x"), delivery(), POLICY, NOW, rand=no_jitter)
    assert (finish.status, finish.answer, pause) == (Status.DRY_RUN, "POST http://x", None)


def test_a_retry_backs_off_by_attempt_without_pausing_the_vendor() -> None:
    first, pause = decide(Retry("HTTP 500: oops"), delivery(attempts=1), POLICY, NOW, rand=no_jitter)
    second, _ = decide(Retry("HTTP 500: oops"), delivery(attempts=2), POLICY, NOW, rand=no_jitter)
    assert (first.status, first.error, pause) == (Status.PENDING, "HTTP 500: oops", None)
    assert (first.next_attempt_at, second.next_attempt_at) == (NOW + 1.0, NOW + 2.0)


def test_a_wait_the_vendor_asked_for_is_kept_capped_and_pauses_the_vendor() -> None:
    finish, pause = decide(Retry("HTTP 429", after=30.0), delivery(), POLICY, NOW, rand=no_jitter)
    assert (finish.next_attempt_at, pause) == (NOW + 30.0, NOW + 30.0)
    finish, pause = decide(Retry("HTTP 429", after=10**9), delivery(), POLICY, NOW, rand=no_jitter)
    assert (finish.next_attempt_at, pause) == (NOW + 100.0, NOW + 100.0)


def test_out_of_attempts_or_too_old_is_dead_with_both_reasons() -> None:
    finish, _ = decide(Retry("HTTP 503"), delivery(attempts=3), POLICY, NOW, rand=no_jitter)
    assert (finish.status, finish.error) == (Status.DEAD, "HTTP 503; gave up after 3 attempts")
    finish, _ = decide(Retry("HTTP 503"), delivery(created_at=NOW - 999.5), POLICY, NOW, rand=no_jitter)
    assert finish.status == Status.DEAD
    assert finish.error == "HTTP 503; gave up: older than 1000s"


def test_a_resend_is_handed_back_due_now_uncounted_even_out_of_attempts() -> None:
    """Refused only because a neighbour in its request was bad: no penalty, whatever its attempts so far."""
    finish, pause = decide(Resend("sent again"), delivery(attempts=3), POLICY, NOW, rand=no_jitter)
    assert (finish.status, finish.next_attempt_at, finish.released, pause) == (Status.PENDING, NOW, True, None)

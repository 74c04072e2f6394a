"""What to record after one attempt: a pure function of the outcome, the delivery, the policy and the time.

No I/O, no clock, no event loop: the worker passes the time and the jitter source in, so a test states a
case and reads the answer.
"""

from __future__ import annotations

from typing import NamedTuple

from ..vendors.base import Delivered, Failed, Resend
from .outbox.base import Delivery, Finish, Status
from .policy import Random, RetryPolicy, out_of_time, retry_delay
from .sending import Attempted, DryRun


class Decision(NamedTuple):
    """What to write for a delivery, and until when the vendor should get no request at all (or None)."""

    finish: Finish
    pause_until: float | None = None


def decide(
    outcome: Attempted,
    delivery: Delivery,
    policy: RetryPolicy,
    now: float,
    *,
    rand: Random,
    confirm_after: float | None = None,
) -> Decision:
    """The outbox write for ``delivery`` after an attempt that ended in ``outcome`` at ``now``.

    Delivered, dead and dry-run are final; a delivery whose vendor gives its verdict later is asked about
    ``confirm_after`` seconds on (see ``confirming``). A resend (refused only for a neighbour in its request) is
    handed back due now, not counted as an attempt. A retry waits what the vendor asked for (capped by the policy)
    or the backoff, unless the delivery is out of attempts or too old, which makes it dead. A vendor that asked for
    a wait asked it of every request, so the decision also pauses the vendor until then.
    """
    if isinstance(outcome, DryRun):
        return Decision(Finish(delivery.id, Status.DRY_RUN, now, answer=outcome.request))
    if isinstance(outcome, Delivered):
        if outcome.confirm is not None and confirm_after is not None:
            # accepted, with the vendor's verdict to ask for later (``Vendor.build_confirmation``)
            at = now + confirm_after
            finish = Finish(
                delivery.id, Status.DELIVERED, now, answer=outcome.answer, confirm_ref=outcome.confirm, confirm_at=at
            )
            return Decision(finish)
        return Decision(Finish(delivery.id, Status.DELIVERED, now, answer=outcome.answer))
    if isinstance(outcome, Failed):
        return Decision(Finish(delivery.id, Status.DEAD, now, error=outcome.reason))
    if isinstance(outcome, Resend):
        # Refused only for a neighbour in its request, nothing ingested: due again at once, the attempt uncounted.
        return Decision(
            Finish(delivery.id, Status.PENDING, now, next_attempt_at=now, error=outcome.reason, released=True)
        )
    # "Again at once" (Retry-After: 0, a refreshed token) is no wait: nothing to hold the other requests for.
    pause = (
        now + min(outcome.after, policy.max_retry_after) if outcome.after is not None and outcome.after > 0 else None
    )
    next_at = now + retry_delay(delivery.attempts, policy, after=outcome.after, rand=rand)
    gone = out_of_time(attempts=delivery.attempts, created_at=delivery.created_at, next_at=next_at, policy=policy)
    if gone:
        return Decision(Finish(delivery.id, Status.DEAD, now, error=f"{outcome.reason}; {gone}"), pause)
    return Decision(Finish(delivery.id, Status.PENDING, now, next_attempt_at=next_at, error=outcome.reason), pause)

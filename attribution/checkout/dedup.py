"""One event id for the browser pixel and the server, so a conversion reported by both counts once.

Meta's pixel (``eventID``), TikTok's (``event_id``), X's (``conversion_id``) and Google's tag
(``transaction_id``) each deduplicate a browser event against the server's copy when both carry the same
id, within the same event name or conversion action. The server sends ``Conversion.event_id``: the
order's id for an order, else the ``event_id`` the site passes to ``checkout``. ``event_id`` gives a page
that very value, so the thank-you page renders exactly what the worker sends later:

    fbq('track', 'Purchase', {...}, {eventID: {{ attribution_event_id(order)|tojson }}});

For an event without an order (a lead form), make the id once, render it in the page and pass the same
value as ``checkout(..., event_id=...)``.
"""

from __future__ import annotations

from ..errors import InvalidConversionError
from ..orders.conversion import Conversion, Order
from ..orders.conversion import _id as check_id


def event_id(source: Order | Conversion | str | int, /) -> str:
    """The id the server sends for this order (or conversion, or your own event id) as its dedup id.

    The same for every vendor and every retry; one id serves all events of an order, since each platform
    deduplicates within an event name. Raises ``InvalidConversionError`` for an id that checkout would refuse
    (empty, too long, or not printable).
    """
    if isinstance(source, Conversion):
        return source.event_id
    if isinstance(source, Order):
        return source.id
    if isinstance(source, bool) or not isinstance(source, str | int):
        raise InvalidConversionError("event_id takes an Order, a Conversion, or an order or event id")
    # stripped and checked as Conversion strips and checks the event_id it is given
    found = str(source).strip()
    if not found:
        raise InvalidConversionError("an event id cannot be empty")
    return check_id(found)

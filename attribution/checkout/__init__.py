"""Checkout: joining the visitor's attribution with an order and a customer (``Tracker``), the conversion model
and its validation, the customer's data in the forms vendors match on (``identifiers``, ``pii``), webhook
tokens, the client's IP through trusted proxies, and the event id shared with browser pixels.

May use: capture, the request's state in ``web.state`` (never the middleware), vendors and delivery. Its
conversion model (``conversion``, ``identifiers``, ``pii``) stands below the rest of it, so that vendors may
build on the model without reaching the tracker.
"""

"""Delivery: the durable outbox (``outbox/``), the worker that schedules sending in one lane per vendor, the
checkout gate (``gate``), each request built from its order record when it is sent (``preparing``), one attempt
at a vendor (``sending``), the retry policy and the pure decision of what to record after an attempt, the group
commit of outcomes (``writer``), verdicts vendors give later (``confirming``), and what the worker tells the
operator (``activity``). How they run together: docs/architecture.md, "Concurrency".

May use: vendors, orders and the ground. Never the web edge, checkout or reports.
"""

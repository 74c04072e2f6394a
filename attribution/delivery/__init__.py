"""Delivery: the durable outbox (``outbox/``), the worker that schedules sending in one lane per vendor,
one attempt at a vendor (``sending``), the retry policy and the pure decision of what to record after an
attempt, the group commit of outcomes (``writer``), and what the worker tells the operator (``activity``).

May use: vendors and the ground. Never the web edge, checkout or reports.
"""

"""Durable storage of order records and their deliveries: the ``Outbox`` contract (``base``) and its backends,
SQLite (``sqlite``, one machine, the default) and PostgreSQL (``postgres``, many machines; the ``postgres`` extra).
``choose`` opens the one a setting names; ``corrections`` is the pure plan of a correction both carry out. Each
backend keeps its SQL in a file beside it.

May use: orders (the order record), the vendors' contract and the ground. The worker, checkout and the CLI use it;
reports read it.
"""

"""Durable storage of deliveries: the ``Outbox`` contract (``base``) and its backends, SQLite (``sqlite``, one
machine, the default) and PostgreSQL (``postgres``, many machines; the ``postgres`` extra). ``choose`` opens the
one a setting names. Each backend keeps its SQL in a file beside it.

May use: the ground (``errors``). The worker, checkout and the CLI use it; reports read it.
"""

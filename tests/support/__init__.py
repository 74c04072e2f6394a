"""What the tests share: apps and browser headers, fake vendors and outbox helpers, the suite's PostgreSQL server,
uvicorn in a thread, the CLI as a process, the fake vendor server, the channel corpora, and the site modules that
``attribution --config`` and ``uvicorn`` import by dotted path (``tests.support.cli_site:tracker``)."""

"""The suite mirrors the library's parts: ``web/``, ``capture/``, ``orders/``, ``checkout/``, ``delivery/`` (with
``delivery/outbox/``), ``vendors/`` and ``reports/``; tests of the top-level modules (cli, templating, forms, errors,
redact) sit at the top, as those modules do. Apart from them: ``processes/`` (subprocesses, real uvicorn or
PostgreSQL servers, SIGKILL), ``browser/`` (headless Chromium) and ``project/`` (architecture, public imports, the
package, typing, the README's and docs' claims, the examples). A test goes where its main subject is.

Code the tests share lives in ``support/``; fixtures several files use live in the ``conftest.py`` of the folder
that holds them all (``outbox`` and ``outbox_spec`` on every backend, the PostgreSQL server, the fake vendor server
at the top)."""

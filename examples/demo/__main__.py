"""``python -m examples.demo [--port N]``: serve the demo shop on http://127.0.0.1:8000/.

The port: ``--port``, else ``PORT`` (or the older ``DEMO_PORT``), else 8000; ``--port 0`` picks a free one.
The line ``... listening on http://127.0.0.1:PORT/`` says which.
"""

from __future__ import annotations

import os

from examples.serve import serve

from .app import app, config


def main() -> None:
    if not os.environ.get("PORT") and os.environ.get("DEMO_PORT"):
        os.environ["PORT"] = os.environ["DEMO_PORT"]
    mode = "dry run: nothing is sent" if config.dry_run else f"SENDING for real to {', '.join(config.configured)}"
    print(f"asgi-attribution demo: outbox {config.outbox} ({mode})", flush=True)
    serve(app, "asgi-attribution demo")


if __name__ == "__main__":
    main()

"""``python -m examples.demo``: serve the demo shop on http://127.0.0.1:8000/ (``DEMO_PORT`` to change)."""

from __future__ import annotations

import os

import uvicorn

from .app import app, config


def main() -> None:
    mode = "dry run: nothing is sent" if config.dry_run else f"SENDING for real to {', '.join(config.configured)}"
    port = int(os.environ.get("DEMO_PORT", "8000"))
    print(f"asgi-attribution demo: outbox {config.outbox} ({mode})")
    print(f"open http://127.0.0.1:{port}/")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main()

"""The examples' secrets: from the environment, else a random one made for this process, and said so.

No example falls back to a value printed in this repository: anyone could sign a cookie, a checkout token or a
webhook with it. Without the variable, what the process signed stops verifying when it exits (and another
process of the same site would not accept it): set the variable wherever that matters.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping


def secret(name: str, purpose: str, env: Mapping[str, str] | None = None) -> str:
    """``$name`` (from ``env``, ``os.environ`` by default), or a random key for this process only, with one line
    on stderr saying so."""
    value = (os.environ if env is None else env).get(name, "").strip()
    if value:
        return value
    print(
        f"{name} is not set: {purpose} uses a random key made for this process (set {name} to keep what it "
        "signs valid across restarts and processes)",
        file=sys.stderr,
        flush=True,
    )
    return secrets.token_urlsafe(32)

"""No example accepts anything signed with a value printed in this repository.

Each example used to fall back to a constant key (``...-example-secret-change-me``), so anyone who read the
repository could sign a cookie, a checkout token or a webhook the example believed. Without its environment
variable an example now signs with a key made for its process, and says so on stderr; ``examples/tracking.py``
signs no tokens at all without ``TRACKING_TOKEN_KEY``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.testclient import TestClient

from attribution.capture import wire
from attribution.capture.models import Attribution, Channel, Touch
from attribution.errors import ConfigurationError
from attribution.orders.conversion import Order
from examples import starlette_app, webhook_app
from examples.demo.app import create_app as create_demo
from examples.demo.config import load_config
from tests.helpers import NAVIGATION

ROOT = Path(__file__).resolve().parent.parent
#: Every constant the examples fell back to before: public, in this repository's history.
OLD_KEYS = {
    "starlette": "starlette-example-secret-change-me",
    "webhook": "webhook-example-secret-change-me",
    "webhook_signature": "whsec-example-change-me",
    "tracking": "tracking-example-token-key-change-me",
    "demo": "demo-secret-key-change-me-0123456789",
}
#: (module, attribute) of every signing secret an example holds.
EXAMPLE_SECRETS = [
    ("examples.starlette_app", "SECRET_KEY"),
    ("examples.fastapi_app", "SECRET_KEY"),
    ("examples.quart_app", "SECRET_KEY"),
    ("examples.litestar_app", "SECRET_KEY"),
    ("examples.postgres_app", "SECRET_KEY"),
    ("examples.webhook_app", "SECRET_KEY"),
    ("examples.webhook_app", "WEBHOOK_SECRET"),
    ("examples.browser_app", "SECRET"),
    ("examples.django_app.settings", "SECRET_KEY"),
    ("examples.django_app.settings", "ATTRIBUTION_SECRET_KEY"),
]
PROBE = """
import importlib, json, sys
found = {}
for module, name in json.loads(sys.argv[1]):
    found[f"{module}.{name}"] = getattr(importlib.import_module(module), name)
from examples.demo.config import load_config
found["demo"] = load_config({}).secret_key
print(json.dumps(found))
"""


def paid_touch() -> Attribution:
    touch = Touch(
        at=datetime.now(UTC).replace(microsecond=0),
        params={"utm_source": "affiliate", "irclickid": "FORGED-CLICK"},
        path="/",
        channel=Channel.AFFILIATE,
    )
    return Attribution(first=touch, history=[touch])


def forged_cookie(key: str, *, host: bool = False) -> str:
    """A cookie as the middleware signs it, with a key that is not the site's."""
    data = json.dumps(wire.compact(wire.to_wire(paid_touch())), separators=(",", ":")).encode()
    salt = "attribution.cookie.v1:__Host-" if host else "attribution.cookie.v1"
    value = base64.urlsafe_b64encode(data).rstrip(b"=")
    return TimestampSigner(key, salt=salt).sign(value).decode()


def forged_token(key: str) -> str:
    """A checkout token as ``Tracker.export_token`` signs it, with a key that is not the site's."""
    payload = {"a": wire.compact(wire.to_wire(paid_touch()))}
    return URLSafeTimedSerializer(key, salt="attribution.checkout-token.v1").dumps(payload)


def tracked_files() -> str:
    listed = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    texts = []
    for name in listed.split():
        path = ROOT / name
        if path.is_file() and path.suffix in (".py", ".md", ".html", ".txt", ".toml", ".sh", ".js", ".cfg", ""):
            texts.append(path.read_text(errors="replace"))
    return "\n".join(texts)


def probe() -> tuple[dict[str, str], str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_SECRET_KEY", "_WEBHOOK_SECRET"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(EXAMPLE_SECRETS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    return json.loads(done.stdout), done.stderr


def test_without_their_variables_the_examples_sign_with_a_key_of_their_own_process_and_say_so() -> None:
    first, said = probe()
    second, _ = probe()
    assert set(first) == {f"{m}.{n}" for m, n in EXAMPLE_SECRETS} | {"demo"}
    printed = tracked_files()
    for name, key in first.items():
        assert len(key) >= 32, name
        assert key not in printed, name  # no value of this repository
        assert second[name] != key, name  # made anew by each process
    for variable in ("EXAMPLE_SECRET_KEY", "EXAMPLE_WEBHOOK_SECRET", "DJANGO_SECRET_KEY", "DEMO_SECRET_KEY"):
        assert f"{variable} is not set: " in said, variable
    assert "uses a random key made for this process" in said


def test_the_starlette_example_reads_nothing_from_a_cookie_signed_with_its_old_constant() -> None:
    with TestClient(starlette_app.create_app(), base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        client.cookies.set("attribution", forged_cookie(OLD_KEYS["starlette"]), domain="127.0.0.1")
        shown = client.get("/").json()
    assert shown["utm"] == {}
    assert shown["click_ids"] == {}


def test_the_webhook_example_refuses_a_webhook_and_a_token_signed_with_its_old_constants(tmp_path: Path) -> None:
    provider = webhook_app.FakeProvider()
    app = webhook_app.create_app(outbox=tmp_path / "outbox.sqlite3", provider=provider)
    event = {
        "type": "payment.succeeded",
        "data": {
            "id": "pay_forged",
            "amount": "99.00",
            "currency": "BRL",
            "metadata": {"order_id": "forged-1", "attribution": forged_token(OLD_KEYS["webhook"])},
        },
    }
    raw = json.dumps(event).encode()
    old_signature = hmac.new(OLD_KEYS["webhook_signature"].encode(), raw, hashlib.sha256).hexdigest()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        signed_the_old_way = client.post("/webhooks/payment", content=raw, headers={"x-signature": old_signature})
        # even signed with the provider's real secret, the token inside is the forgery
        real = client.post("/webhooks/payment", content=raw, headers={"x-signature": provider.sign(raw)})
        queued = client.portal.call(app.tracker.outbox.list)  # type: ignore[union-attr]
    assert signed_the_old_way.status_code == 400
    assert real.status_code == 422
    assert real.json()["error"] == "TokenError"
    assert queued == []


def test_the_tracking_module_signs_and_accepts_no_token_without_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACKING_TOKEN_KEY", raising=False)
    monkeypatch.setenv("ATTRIBUTION_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    sys.modules.pop("examples.tracking", None)
    tracking: Any = importlib.import_module("examples.tracking")
    tracker = tracking.tracker
    order = Order(id="forged-2", value=Decimal("10.00"), currency="USD")

    async def attempt() -> None:
        await tracker.checkout_token(forged_token(OLD_KEYS["tracking"]), order)

    with pytest.raises(ConfigurationError, match="checkout tokens need"):
        asyncio.run(attempt())
    sys.modules.pop("examples.tracking", None)
    assert not (tmp_path / "outbox.sqlite3").exists()  # nothing was queued, nothing even opened


def test_the_demo_with_only_vendor_keys_set_reads_nothing_signed_with_its_published_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config({"DEMO_OUTBOX": str(tmp_path / "demo.sqlite3"), "WHOP_API_KEY": "k", "WHOP_COMPANY_ID": "b"})
    assert "DEMO_SECRET_KEY is not set: " in capsys.readouterr().err
    assert not config.dry_run  # it would send for real: all the more reason not to trust a public key
    app = create_demo(config)
    client = TestClient(app, base_url="http://127.0.0.1:8000", headers=NAVIGATION)
    client.cookies.set("attribution", forged_cookie(OLD_KEYS["demo"]), domain="127.0.0.1")
    page = client.get("/_demo/panel")
    assert "FORGED-CLICK" not in page.text
    assert "Nothing captured yet" in page.text

"""The script tag helper and the packaged script."""

from __future__ import annotations

import hashlib
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment

from attribution.capture.params import TRACKED_PARAMS
from attribution.capture.settings import Settings
from attribution.templating import install_jinja2
from attribution.web.snippet import SafeHTML, load_snippet, script_tag
from tests.support.helpers import SECRET

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "attribution" / "web" / "static" / "attribution.js"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_the_snippet_is_the_repository_file_named_by_its_hash() -> None:
    snippet = load_snippet()
    assert snippet.body == SOURCE.read_bytes()
    assert snippet.version == hashlib.sha256(snippet.body).hexdigest()[:16]
    assert snippet.etag == f'"{snippet.version}"'


def test_the_wheel_ships_the_script_where_the_loader_reads_it(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    wheel = next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])))
    with zipfile.ZipFile(wheel) as built:
        names = set(built.namelist())
        assert built.read("attribution/web/static/attribution.js") == SOURCE.read_bytes()
    assert "attribution/py.typed" in names
    # The outboxes read their statements from these files at import: without them no outbox opens.
    assert {"attribution/delivery/outbox/sqlite.sql", "attribution/delivery/outbox/postgres.sql"} <= names
    assert not any(name.startswith(("tests/", "examples/", "bench/")) for name in names)


def test_the_default_tag() -> None:
    tag = script_tag()
    ((name, attrs),) = parse(tag)
    assert name == "script"
    assert attrs["src"] == f"/_attribution/attribution.js?v={load_snippet().version}"
    assert attrs["data-endpoint"] == "/_attribution/collect"
    assert attrs["data-params"] is not None
    assert attrs["data-params"].split(",") == list(TRACKED_PARAMS)
    assert "defer" in attrs
    assert "nonce" not in attrs
    assert tag.endswith("></script>")


def test_every_attribute_is_escaped() -> None:
    tag = script_tag(prefix='/x"><img src=y onerror=alert(1)>/', nonce='n"<>&', params=['a"b', "c<d"])
    assert "<img" not in tag
    ((_, attrs),) = parse(tag)
    assert attrs["nonce"] == 'n"<>&'
    assert attrs["data-params"] == 'a"b,c<d'
    assert attrs["data-endpoint"] == '/x"><img src=y onerror=alert(1)>/collect'


def test_the_settings_give_the_prefix_and_the_extra_params() -> None:
    settings = Settings.build(secret_key=SECRET, endpoint_prefix="/t/", extra_params=["ref_code"])
    ((_, attrs),) = parse(script_tag(settings=settings, nonce="abc"))
    assert attrs["src"] is not None
    assert attrs["src"].startswith("/t/attribution.js?v=")
    assert attrs["data-endpoint"] == "/t/collect"
    assert attrs["data-params"] is not None
    assert "ref_code" in attrs["data-params"].split(",")
    assert attrs["nonce"] == "abc"


def test_templates_insert_the_tag_unescaped() -> None:
    tag = script_tag(nonce="n1")
    assert isinstance(tag, SafeHTML)
    env = Environment(autoescape=True)
    assert env.from_string("{{ tag }}").render(tag=tag) == tag
    install_jinja2(env)
    rendered = env.from_string("{{ attribution_script(nonce=nonce) }}").render(nonce="n<2>")
    ((_, attrs),) = parse(rendered)
    assert attrs["nonce"] == "n<2>"


# -- the script's promises, checked on its source -----------------------------------------------------------


@pytest.fixture(scope="module")
def source() -> str:
    return SOURCE.read_text()


def test_the_script_stays_small(source: str) -> None:
    assert len(source.encode()) < 7 * 1024


def test_the_script_touches_no_cookies_and_loads_nothing(source: str) -> None:
    assert "document.cookie" not in source
    # its only request is the POST to the collect endpoint
    assert not re.search(r"createElement\(\s*[\"'](script|img|iframe|link)", source)
    assert "import(" not in source
    assert "XMLHttpRequest" not in source
    assert source.count("fetch(") == 1

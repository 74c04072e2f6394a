"""Templates read the attribution, render hidden fields and the script tag, with everything escaped."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from attribution.templating import install_jinja2
from attribution.web.middleware import AttributionMiddleware
from tests.support.helpers import SECRET, client

XSS = '"><script>alert(1)</script>'


def templated_app(tmp_path: Path) -> Starlette:
    (tmp_path / "page.html").write_text(
        "<p>{{ attribution.utm.utm_source }}</p>\n"
        '<form method="post">{{ attribution_fields() }}</form>\n'
        "{{ attribution_script(nonce=nonce) }}\n"
        "<i>{{ attribution.channel }}</i>"
    )
    templates = Jinja2Templates(directory=str(tmp_path))
    install_jinja2(templates)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "page.html", {"nonce": request.query_params.get("n", "abc")})

    app = Starlette(routes=[Route("/", page)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET)
    return app


def test_a_script_injection_in_a_utm_value_comes_out_inert(tmp_path: Path) -> None:
    c = client(templated_app(tmp_path))
    c.get("/", params={"utm_source": XSS, "utm_campaign": XSS, "gclid": "G1"})
    html = c.get("/").text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<input type="hidden" name="utm_source" value="&#34;&gt;&lt;script&gt;' in html
    assert '<input type="hidden" name="gclid" value="G1">' in html
    assert "<i>paid_search</i>" in html


def test_the_script_tag_carries_the_nonce_escaped(tmp_path: Path) -> None:
    html = client(templated_app(tmp_path)).get("/", params={"n": 'x" onload="evil()'}).text
    assert 'nonce="x&quot; onload=&quot;evil()"' in html
    assert 'onload="evil()"' not in html
    assert 'src="/_attribution/attribution.js?v=' in html


def test_hidden_fields_can_be_limited_and_prefixed() -> None:
    from attribution.capture.models import Attribution, Touch
    from attribution.forms import hidden_fields

    attr = Attribution(history=[Touch(at="2026-11-01T00:00:00Z", params={"utm_source": "a&b", "gclid": "G"})])
    attr.with_windows({}, now=None)
    html = hidden_fields(attr, names=["utm_source", "missing"], prefix="attr_")
    assert str(html) == '<input type="hidden" name="attr_utm_source" value="a&amp;b">'


def test_the_script_tag_follows_the_middlewares_settings(tmp_path: Path) -> None:
    from attribution.capture.settings import Settings

    (tmp_path / "t.html").write_text("{{ attribution_script() }}")
    templates = Jinja2Templates(directory=str(tmp_path))
    settings = Settings.build(secret_key=SECRET, extra_params=["ref_code"], endpoint_prefix="/_t/")
    install_jinja2(templates, settings=settings)
    html = templates.get_template("t.html").render()
    assert 'src="/_t/attribution.js?v=' in html
    assert "ref_code" in html


def test_without_settings_the_script_tag_follows_the_middleware_that_served_the_page(tmp_path: Path) -> None:
    """A site with its own endpoint_prefix or extra_params need not repeat them to install_jinja2: the tag
    rendered for a request points at that request's middleware, so the script it loads is really there."""
    (tmp_path / "t.html").write_text("{{ attribution_script() }}")
    templates = Jinja2Templates(directory=str(tmp_path))
    install_jinja2(templates)

    async def page(request: Request) -> Response:
        return templates.TemplateResponse(request, "t.html")

    app = Starlette(routes=[Route("/", page)])
    app.add_middleware(AttributionMiddleware, secret_key=SECRET, endpoint_prefix="/_t/", extra_params=["ref_code"])
    c = client(app)
    html = c.get("/").text
    src = re.search(r'src="([^"]+)"', html)
    assert src is not None
    assert src.group(1).startswith("/_t/attribution.js?v=")
    assert 'data-endpoint="/_t/collect"' in html
    assert "ref_code" in html
    script = c.get(src.group(1))
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    # rendered outside a request (a bare render), the tag keeps install_jinja2's prefix
    assert 'src="/_attribution/attribution.js?v=' in templates.get_template("t.html").render()


def test_hidden_fields_escape_every_part() -> None:
    from attribution.capture.models import Attribution, Channel, Touch
    from attribution.forms import hidden_fields

    hostile = '"><script>alert(1)</script>'
    touch = Touch(at="2026-11-01T00:00:00Z", params={"utm_source": hostile}, channel=Channel.OTHER)
    html = str(hidden_fields(Attribution(history=[touch]), names=["utm_source"], prefix='x"'))
    assert "<script>" not in html
    assert html == (
        '<input type="hidden" name="x&#34;utm_source" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">'
    )

"""Options that would silently break a site are refused when the middleware is built, naming the option.

A bare string where a list belongs (``excluded_paths="/static/"``) is a list of characters to Python: it
would exclude every path. An endpoint prefix of ``/`` would answer every page with the collect endpoint's
404. A cookie name or domain with a separator would write another cookie attribute into Set-Cookie.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from attribution import AttributionMiddleware, ConfigurationError
from tests.helpers import SECRET, client


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("excluded_paths", "/static/"),
        ("ignored_referrers", "paypal.com"),
        ("extra_params", "ref"),
        ("allowed_origins", "https://shop.example.com"),
        ("allowed_origins", ["shop.example.com"]),  # no scheme: no browser sends such an Origin
        ("allowed_origins", ["https://shop.example.com/checkout"]),
        ("allowed_origins", ["ftp://shop.example.com"]),
        ("allowed_origins", ["https://user@shop.example.com"]),
        ("endpoint_prefix", "/"),
        ("cookie_name", "a b"),
        ("cookie_name", "attribution;x"),
        ("cookie_name", ""),
        ("domain", "example.com; Path=/admin"),
        ("domain", "exa mple.com"),
        ("click_id_windows", {"gclid": -1}),
        ("click_id_windows", {"gclid": 0}),
        ("click_id_windows", {"gclick": 30}),
        ("consent", True),  # a hook is asked per request; a bool here would refuse every visitor
        ("consent", False),
        ("consent", {"ad_measurement": True}),
    ],
)
def test_an_option_that_would_break_the_site_is_refused_naming_it(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=option):
        AttributionMiddleware(Starlette(), secret_key=SECRET, **{option: value})


def test_lists_of_options_work_and_a_window_for_an_extra_parameter_is_allowed() -> None:
    c = client(
        excluded_paths=["/static/"],
        extra_params=["ref"],
        click_id_windows={"gclid": 30, "ref": 7},
        domain=".example.com",
        cookie_name="attr_v2",
        endpoint_prefix="/_t/",
    )
    response = c.get("/show?utm_source=news&ref=partner-7")
    assert response.status_code == 200
    assert response.json()["utm"] == {"utm_source": "news"}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("attr_v2=")
    assert "Domain=example.com" in cookie
    assert c.get("/static/x?utm_source=other").status_code == 200
    assert c.get("/show").json()["utm"] == {"utm_source": "news"}


def test_a_misspelt_option_is_a_type_error_naming_it_and_a_missing_key_says_how_to_make_one() -> None:
    options: dict[str, Any] = {"secret_key": SECRET, "cookie_nam": "visit"}
    with pytest.raises(TypeError, match="'cookie_nam'"):
        AttributionMiddleware(Starlette(), **options)
    with pytest.raises(ConfigurationError, match=r"secret_key is required: secrets\.token_urlsafe"):
        AttributionMiddleware(Starlette())  # type: ignore[call-arg]


def test_the_options_a_site_keeps_in_its_settings_are_typed_once() -> None:
    from attribution import CaptureOptions

    options: CaptureOptions = {"secret_key": SECRET, "cookie_name": "visit", "history_size": 3}
    middleware = AttributionMiddleware(Starlette(), **options)
    assert (middleware.settings.cookie_name, middleware.settings.history_size) == ("visit", 3)
    assert middleware.settings.endpoint_prefix == "/_attribution/"  # a default, from DEFAULTS

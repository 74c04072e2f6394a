"""The endpoint prefix's 404 repeats nothing of the request and cannot be read as anything but JSON."""

from __future__ import annotations

from tests.helpers import BROWSER_UA, client


def test_an_unknown_path_under_the_prefix_is_not_reflected_and_not_sniffed() -> None:
    c = client()
    response = c.get("/_attribution/<script>alert(document.cookie)</script>", headers={"user-agent": BROWSER_UA})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script" not in response.text
    assert response.json() == {"error": "not_found", "detail": "nothing is served here; see /_attribution/collect"}


def test_every_error_of_the_collect_endpoint_is_nosniff() -> None:
    c = client()
    same_origin = {"origin": "https://shop.example.com", "sec-fetch-site": "same-origin", "content-type": "text/html"}
    refused = c.post("/_attribution/collect", content=b"{}", headers=same_origin)
    assert refused.status_code == 415
    assert refused.headers["x-content-type-options"] == "nosniff"
    wrong_method = c.get("/_attribution/collect")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["x-content-type-options"] == "nosniff"

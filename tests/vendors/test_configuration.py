"""A vendor set up wrongly fails at construction with the library's ConfigurationError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from attribution.errors import ConfigurationError
from attribution.vendors import Connectly, ConvertLoop, RDStation, Whop


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Whop(api_key="k", company_id="biz_1", action_source="fax"), "action_source"),
        (lambda: Connectly(api_key="k", business_id="b", events={"purchase": "AddToCart"}), "Purchase and ViewContent"),
        (lambda: ConvertLoop(app_id="a", api_key="k", occurred_at_key="when"), "occurred_at_key"),
        (lambda: RDStation(api_key="k", custom_fields={"utm_content": "utm_content"}), "cf_"),
        (lambda: RDStation(api_key="k", phone_field="fax"), "phone_field"),
    ],
)
def test_bad_vendor_settings_are_configuration_errors(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build()

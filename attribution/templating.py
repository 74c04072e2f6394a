"""Jinja2 helpers: templates read the visitor's attribution, render hidden fields and the script tag.

    templates = Jinja2Templates(directory="templates")
    install_jinja2(templates)

    {{ attribution.utm.utm_source }}          the Attribution of the current request
    {{ attribution_fields() }}                hidden <input>s for a form
    {{ attribution_script(nonce=csp_nonce) }} the snippet's <script> tag
    {{ attribution_event_id(order)|tojson }}  the dedup id the server sends, for the pixels

Everything is escaped: values go through Jinja's autoescape or markupsafe.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from .capture.models import Attribution
from .capture.settings import Settings
from .checkout.dedup import event_id
from .errors import MiddlewareNotInstalledError
from .forms import hidden_fields
from .web.snippet import SafeHTML
from .web.state import SCOPE_KEY, LazyAttribution, get_attribution, settings_of

__all__ = ["attribution_context", "install_jinja2"]


def attribution_context(request: Request) -> dict[str, Any]:
    """A Starlette context processor: ``attribution`` in every template rendered with a request.

    It is the request's lazy attribution: ``.utm``, ``.channel`` and hidden fields read the cookie without
    building models, and anything else reads through to the ``Attribution``."""
    lazy = request.scope.get(SCOPE_KEY)
    if isinstance(lazy, LazyAttribution):
        return {"attribution": lazy}
    try:
        return {"attribution": get_attribution(request)}
    except MiddlewareNotInstalledError:
        return {"attribution": Attribution()}


def _attribution_of(context: Context) -> Attribution | LazyAttribution:
    attr = context.get("attribution")
    if isinstance(attr, Attribution | LazyAttribution):
        return attr
    request = context.get("request")
    if request is None:
        return Attribution()
    lazy = request.scope.get(SCOPE_KEY)
    return lazy if isinstance(lazy, LazyAttribution) else get_attribution(request)


@pass_context
def _fields(context: Context, names: list[str] | None = None, prefix: str = "") -> Markup:
    return hidden_fields(_attribution_of(context), names=names, prefix=prefix)


def install_jinja2(
    templates: Jinja2Templates | Environment,
    *,
    endpoint_prefix: str = "/_attribution/",
    settings: Settings | None = None,
) -> None:
    """Register ``attribution``, ``attribution_fields()`` and ``attribution_script()`` in templates.

    With a ``Jinja2Templates`` the ``attribution`` variable comes from a context processor; with a bare
    ``Environment``, pass ``request`` (or ``attribution``) in the context yourself. The script tag follows
    the settings of the middleware that served the request (its ``endpoint_prefix`` and ``extra_params``);
    pass ``settings`` (or ``endpoint_prefix``) for templates rendered outside a request.
    """
    from .web.snippet import script_tag

    env = templates.env if isinstance(templates, Jinja2Templates) else templates
    if isinstance(templates, Jinja2Templates) and attribution_context not in templates.context_processors:
        templates.context_processors.append(attribution_context)
    env.globals["attribution_fields"] = _fields
    env.globals["attribution_event_id"] = event_id  # the pixels' dedup id: see attribution.dedup

    @pass_context
    def attribution_script(context: Context, nonce: str | None = None) -> SafeHTML:
        # Settings given win; else those of the middleware that served the request, so a site's own
        # endpoint_prefix and extra_params reach the tag without being repeated here.
        request = context.get("request")
        found = settings or (settings_of(request) if request is not None else None)
        # already escaped; SafeHTML's __html__ tells Jinja's autoescape to insert it as is
        return script_tag(prefix=endpoint_prefix, nonce=nonce, settings=found)

    env.globals["attribution_script"] = attribution_script

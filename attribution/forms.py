"""Hidden ``<input>`` fields carrying the public part of the attribution into a form post."""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from .capture.models import Attribution
from .web.state import LazyAttribution


def hidden_fields(
    attr: Attribution | LazyAttribution, *, names: Iterable[str] | None = None, prefix: str = ""
) -> Markup:
    """``<input type="hidden">`` for each public value (UTMs, click ids, channels), every part escaped.

    ``names`` limits the fields (in that order); ``prefix`` namespaces them (``prefix="attr_"``). Given the
    request's ``scope["attribution"]`` itself, it reads the cookie's payload without building the models.
    """
    public = attr.public()
    keys = list(public) if names is None else [n for n in names if n in public]
    # Markup.format costs three times these f-strings; every interpolated part goes through escape()
    fields = (f'<input type="hidden" name="{escape(prefix + key)}" value="{escape(public[key])}">' for key in keys)
    return Markup("\n".join(fields))  # noqa: S704 - built from escaped parts only

"""Django views read the attribution from the ASGI scope: ``ASGIRequest.scope`` is the one the middleware saw."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from attribution.middleware import get_attribution


def home(request: HttpRequest) -> HttpResponse:
    scope = getattr(request, "scope", None)  # set on ASGIRequest; absent under WSGI
    attribution = get_attribution(scope) if scope is not None else None
    return render(request, "home.html", {"attribution": attribution})

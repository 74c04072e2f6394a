"""Django views read the attribution from the ASGI scope: ``ASGIRequest.scope`` is the one the middleware saw."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from attribution import get_attribution

from . import shop


def home(request: HttpRequest) -> HttpResponse:
    scope = getattr(request, "scope", None)  # set on ASGIRequest; absent under WSGI
    attribution = get_attribution(scope) if scope is not None else None
    return render(request, "home.html", {"attribution": attribution})


@require_http_methods(["GET", "POST"])
def orders(request: HttpRequest) -> HttpResponse:
    """``POST`` a JSON order (``id``, ``total``, ``currency``, ``email``; ``"stock": 0`` fails it after the checkout);
    ``GET`` counts the orders. Needs ``DATABASE_URL``."""
    if shop.TRACKER is None:
        return JsonResponse({"error": "set DATABASE_URL to a PostgreSQL database to take orders"}, status=503)
    if request.method == "GET":
        return JsonResponse({"orders": shop.order_count()})
    try:
        result = shop.place_order(request, json.loads(request.body))
    except shop.OutOfStock:
        return JsonResponse({"error": "out of stock"}, status=409)
    return JsonResponse({"queued": result.queued, "duplicate": result.duplicate})

"""The Django project's ASGI application inside ``AttributionMiddleware``.

uvicorn examples.django_app.asgi:application --host 127.0.0.1 --port 8000

With ``DATABASE_URL`` naming a PostgreSQL database, the project also takes orders (``examples/django_app/shop.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

from attribution import AttributionMiddleware

from .shop import TRACKER


def create_application() -> AttributionMiddleware:
    # with a tracker, the middleware runs its worker on the server's lifespan (Django's handler has none)
    return AttributionMiddleware(get_asgi_application(), secret_key=settings.ATTRIBUTION_SECRET_KEY, tracker=TRACKER)


application = create_application()

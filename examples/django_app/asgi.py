"""The Django project's ASGI application inside ``AttributionMiddleware``.

uvicorn examples.django_app.asgi:application --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

from django.conf import settings
from django.core.asgi import get_asgi_application

from attribution.middleware import AttributionMiddleware


def create_application() -> AttributionMiddleware:
    return AttributionMiddleware(get_asgi_application(), secret_key=settings.ATTRIBUTION_SECRET_KEY)


application = create_application()

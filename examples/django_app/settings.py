"""Settings of the minimal Django example (``DJANGO_SETTINGS_MODULE=examples.django_app.settings``)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-example-secret-change-me")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
    }
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
#: The signing key of the attribution cookie (use its own secret, not Django's SECRET_KEY).
ATTRIBUTION_SECRET_KEY = os.environ.get("ATTRIBUTION_SECRET_KEY", "django-example-attribution-secret")

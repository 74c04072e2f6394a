"""Settings of the minimal Django example (``DJANGO_SETTINGS_MODULE=examples.django_app.settings``)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from examples.keys import secret

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = secret("DJANGO_SECRET_KEY", "Django's own signing")
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


def _database(url: str) -> dict[str, str]:
    """Django's settings for a ``postgresql://user:password@host:port/name`` URL."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


#: Orders (and the outbox beside them) in PostgreSQL when DATABASE_URL names one; no database otherwise.
DATABASES = {"default": _database(os.environ["DATABASE_URL"])} if os.environ.get("DATABASE_URL") else {}
USE_TZ = True
#: The signing key of the attribution cookie (use its own secret, not Django's SECRET_KEY).
ATTRIBUTION_SECRET_KEY = secret("ATTRIBUTION_SECRET_KEY", "the attribution cookie")

"""A minimal Django project served through its ASGI application, wrapped by ``AttributionMiddleware``."""

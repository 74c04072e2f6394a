"""The smallest integration: wrap a Starlette app and read the visitor's attribution in a handler.

python -m examples.starlette_app      # then open http://127.0.0.1:8000/?utm_source=newsletter&utm_medium=email
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from attribution import AttributionMiddleware, get_attribution
from examples.keys import secret

SECRET_KEY = secret("EXAMPLE_SECRET_KEY", "the attribution cookie")


async def home(request: Request) -> JSONResponse:
    attr = get_attribution(request)
    return JSONResponse(
        {
            "channel": attr.channel.value,
            "first_channel": attr.first.channel.value if attr.first else None,
            "utm": attr.utm,
            "click_ids": attr.click_ids,
            "landing": attr.last.path if attr.last else None,
        }
    )


def create_app(secret_key: str = SECRET_KEY) -> AttributionMiddleware:
    return AttributionMiddleware(Starlette(routes=[Route("/", home)]), secret_key=secret_key)


app = create_app()

if __name__ == "__main__":
    from examples.serve import serve

    serve(app, "Starlette example", hint="?utm_source=newsletter&utm_medium=email")

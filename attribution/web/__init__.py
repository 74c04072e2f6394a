"""The ASGI edge: ``AttributionMiddleware``, the snippet and its collect endpoint, the request's state
(``scope["attribution"]``), the lifespan that runs a tracker's worker, debug answers, server-set Meta cookies.

Pure ASGI: non-HTTP scopes pass straight through, headers are added in a small ``send`` wrapper, and nothing
is decoded before a request uses it. May use: capture and the ground. Never checkout, delivery, vendors or
reports (a tracker given to the middleware is only started and stopped here).
"""

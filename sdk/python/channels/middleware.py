"""``channels.middleware.BaseMiddleware``: middleware wraps an application
and may change the scope before calling it. wasmsock runs the middleware a
``routing.py`` builds when a connection arrives (to route it and build its
scope), so a middleware that reads the query string or headers and sets
``scope["user"]`` works as under Channels."""

__all__ = ["BaseMiddleware"]


class BaseMiddleware:
    """Base class for implementing ASGI middleware. The wrapped application
    is ``self.inner``; routing reads it to find the routes."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        # Copy scope to stop changes going upstream.
        scope = dict(scope)
        return await self.inner(scope, receive, send)

"""``channels.sessions``: cookies yes, Django sessions no.

``CookieMiddleware`` leaves ``scope["cookies"]``, which every wasmsock scope
has. ``SessionMiddleware`` has no Django session store to read, so it adds
no ``scope["session"]``; the stacks pass through, so that a ``routing.py``
that wraps its router in them routes the same."""

from .middleware import BaseMiddleware

__all__ = ["CookieMiddleware", "SessionMiddleware", "SessionMiddlewareStack"]


class CookieMiddleware(BaseMiddleware):
    """``scope["cookies"]`` is always set by wasmsock: nothing to add."""


class SessionMiddleware(BaseMiddleware):
    """No Django session store: adds no ``scope["session"]``."""


def SessionMiddlewareStack(inner):
    return CookieMiddleware(SessionMiddleware(inner))

"""``channels.auth``: ``AuthMiddlewareStack`` sets ``scope["user"]``.

There are no Django users or sessions in a plugin, so every connection's
user is ``AnonymousUser()``, as under Channels for a visitor who has not
logged in. To authenticate, read a token from ``scope["query_string"]``,
``scope["headers"]`` or ``scope["cookies"]`` in your own middleware (a
``BaseMiddleware`` subclass that sets ``scope["user"]``) or in
``connect()``. ``login`` and ``logout`` need a session store and fail."""

from .middleware import BaseMiddleware
from .sessions import CookieMiddleware, SessionMiddleware

__all__ = ["AnonymousUser", "AuthMiddleware", "AuthMiddlewareStack", "login", "logout", "get_user"]


class AnonymousUser:
    """The user of a connection nobody logged in on, as Django's."""

    id = None
    pk = None
    username = ""
    is_staff = False
    is_active = False
    is_superuser = False
    is_anonymous = True
    is_authenticated = False

    def __str__(self):
        return "AnonymousUser"

    def __eq__(self, other):
        return isinstance(other, self.__class__)

    def __hash__(self):
        return 1

    def get_username(self):
        return self.username


class AuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` unless a middleware inside set it already."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        scope.setdefault("user", AnonymousUser())
        return await self.inner(scope, receive, send)


def AuthMiddlewareStack(inner):
    return CookieMiddleware(SessionMiddleware(AuthMiddleware(inner)))


async def get_user(scope):
    return scope.get("user") or AnonymousUser()


async def login(scope, user, backend=None):
    raise NotImplementedError(
        "channels.auth.login needs Django sessions, which a wasmsock plugin has not"
    )


async def logout(scope):
    raise NotImplementedError(
        "channels.auth.logout needs Django sessions, which a wasmsock plugin has not"
    )

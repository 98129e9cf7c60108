"""``channels.auth``: ``AuthMiddlewareStack`` sets ``scope["user"]``.

There are no Django users or sessions in a plugin. ``scope["user"]`` is
who the host says the connection is: a :class:`User` named by the verified
token's subject (the manifest's ``[auth]``) or by the ``user`` value a
middleware plugin added, and ``AnonymousUser()`` otherwise, as under
Channels for a visitor who has not logged in. ``scope["identity"]`` holds
the rest (``subject``, ``claims`` parsed from JSON, ``values``). A
``BaseMiddleware`` subclass of your own may still replace ``scope["user"]``.
``login`` and ``logout`` need a session store and fail."""

from .middleware import BaseMiddleware
from .sessions import CookieMiddleware, SessionMiddleware

__all__ = ["AnonymousUser", "User", "AuthMiddleware", "AuthMiddlewareStack", "login", "logout", "get_user"]


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


class User:
    """A connection's authenticated user, as much of Django's ``User`` as
    consumer code reads: ``username`` (and ``pk``, ``id``) is the identity's
    subject; ``claims`` the verified token's claims (a dict, empty when the
    name came from a middleware)."""

    is_staff = False
    is_superuser = False
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def __init__(self, username, claims=None):
        self.username = username
        self.pk = username
        self.id = username
        self.claims = claims or {}

    def __str__(self):
        return self.username

    def __repr__(self):
        return f"<User: {self.username}>"

    def __eq__(self, other):
        return isinstance(other, User) and other.username == self.username

    def __hash__(self):
        return hash(self.username)

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

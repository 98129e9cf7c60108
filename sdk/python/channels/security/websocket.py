"""``OriginValidator`` and ``AllowedHostsOriginValidator``.

``OriginValidator(app, ["https://example.com"])`` refuses (403) a browser
connection whose ``Origin`` is not in the list, as in Channels (``"*"``
allows all; a connection without ``Origin`` is allowed). There are no
Django settings, so ``AllowedHostsOriginValidator`` cannot read
``ALLOWED_HOSTS``: it lets every origin through; give the plugin's manifest
``allowed_origins = [...]`` instead, which the server checks before the
plugin is called."""

from urllib.parse import urlparse

from ..exceptions import DenyConnection

__all__ = ["OriginValidator", "AllowedHostsOriginValidator", "WebsocketDenier"]


class OriginValidator:
    def __init__(self, application, allowed_origins):
        self.application = application
        self.inner = application
        self.allowed_origins = list(allowed_origins)

    async def __call__(self, scope, receive, send):
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = value.decode("latin-1")
                break
        if origin is not None and not self.valid_origin(origin):
            raise DenyConnection(f"origin {origin!r} is not allowed")
        return await self.application(scope, receive, send)

    def valid_origin(self, origin):
        if "*" in self.allowed_origins:
            return True
        parsed = urlparse(origin.lower())
        for allowed in self.allowed_origins:
            allowed = allowed.lower()
            if allowed == origin.lower():
                return True
            if "://" not in allowed and parsed.hostname is not None:
                host = parsed.hostname
                if allowed.startswith("."):
                    if host == allowed[1:] or host.endswith(allowed):
                        return True
                elif host == allowed:
                    return True
        return False


def AllowedHostsOriginValidator(application):
    """Passes every origin: see the module's docstring."""
    return application


class WebsocketDenier:
    """An application that refuses every connection (403)."""

    async def __call__(self, scope, receive, send):
        raise DenyConnection("refused by WebsocketDenier")

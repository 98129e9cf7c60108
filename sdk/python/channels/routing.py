"""``ProtocolTypeRouter`` and ``URLRouter``, as in Channels 4.

A plugin's ``routing.py`` builds its application from these. wasmsock uses
it twice:

- when the plugin is built, ``wasmsock_channels.routes`` walks it to write
  the server's routes into the plugin's manifest (``<str:room>`` becomes
  ``{room}``), refusing patterns the server cannot route;
- when a connection arrives, the plugin calls it with the connection's
  scope, like an ASGI server would: middleware runs, ``URLRouter`` matches
  the path in order and adds ``url_route``, and the consumer it reaches
  serves the connection. A path that matches no pattern is refused with 404.
"""

import inspect

from .consumer import AsyncConsumer
from wasmsock_channels.urls import RegexPattern, RoutePattern, URLPattern

__all__ = ["ProtocolTypeRouter", "URLRouter", "ChannelNameRouter", "get_default_application", "NoRoute"]


class NoRoute(ValueError):
    """No pattern of the routing matches the connection's path (404)."""


def _as_application(app, where):
    """Channels 2 routed consumer classes; Channels 3 and 4 want
    ``Consumer.as_asgi()``. Both work here. An instance cannot serve many
    connections, so it is refused with the fix."""
    if inspect.isclass(app) and issubclass(app, AsyncConsumer):
        return app.as_asgi()
    if isinstance(app, AsyncConsumer):
        name = type(app).__name__
        raise TypeError(
            f"{where}: {name}() is a consumer instance; route the class instead: "
            f"{name}.as_asgi() (or {name})"
        )
    return app


class ProtocolTypeRouter:
    """Takes a mapping of protocol type names to other application
    instances, and dispatches to the right one based on protocol name (or
    raises an error). Only ``"websocket"`` reaches a wasmsock plugin."""

    def __init__(self, application_mapping):
        self.application_mapping = {
            key: _as_application(app, f"ProtocolTypeRouter[{key!r}]")
            for key, app in application_mapping.items()
        }

    async def __call__(self, scope, receive, send):
        if scope["type"] in self.application_mapping:
            application = self.application_mapping[scope["type"]]
            return await application(scope, receive, send)
        raise ValueError(f"No application configured for scope type {scope['type']!r}")


class URLRouter:
    """Routes to different applications/consumers based on the URL path.

    Works with anything that has a ``path`` key, but intended for WebSocket
    and HTTP. Uses Django's ``django.urls`` objects for resolution:
    ``path()`` or ``re_path()``. A nested ``URLRouter`` matches the start of
    the path and routes the rest."""

    # Marks routers so that an outer router matches only a prefix for them.
    _path_routing = True

    def __init__(self, routes):
        self.routes = list(routes)
        for i, route in enumerate(self.routes):
            if not isinstance(route, URLPattern):
                raise TypeError(
                    f"URLRouter route {i} is {route!r}: build routes with "
                    "django.urls.path() or re_path()"
                )
            route.callback = _as_application(route.callback, f"URLRouter route {route.pattern}")
            if getattr(route.callback, "_path_routing", False) is True:
                pattern = route.pattern
                if isinstance(pattern, RegexPattern):
                    route.pattern = RegexPattern(pattern._regex, pattern.name, is_endpoint=False)
                elif isinstance(pattern, RoutePattern):
                    route.pattern = RoutePattern(pattern._route, pattern.name, is_endpoint=False)
                else:
                    raise ValueError(f"Unsupported pattern type: {type(pattern)}")

    async def __call__(self, scope, receive, send):
        path = scope.get("path_remaining", scope.get("path", None))
        if path is None:
            raise ValueError("No 'path' key in connection scope, cannot route URLs")
        if "path_remaining" not in scope:
            root_path = scope.get("root_path", "")
            if root_path and not path.startswith(root_path):
                raise NoRoute(f"No route found for path {path!r}.")
            path = path[len(root_path):]
        # Remove leading / to match Django's handling.
        path = path.lstrip("/")
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                new_path, args, kwargs = match
                kwargs.update(route.default_args)
                outer = scope.get("url_route", {})
                try:
                    return await route.callback(
                        dict(
                            scope,
                            path_remaining=new_path,
                            url_route={
                                "args": outer.get("args", ()) + args,
                                "kwargs": {**outer.get("kwargs", {}), **kwargs},
                            },
                        ),
                        receive,
                        send,
                    )
                except NoRoute:
                    # A nested router found nothing: try the next pattern.
                    pass
        raise NoRoute(f"No route found for path {path!r}.")


class ChannelNameRouter:
    """Routes by channel name for background workers, which a wasmsock
    plugin does not have."""

    def __init__(self, application_mapping):
        raise NotImplementedError(
            "ChannelNameRouter: wasmsock plugins have no background workers; "
            "route WebSocket connections with URLRouter"
        )


def get_default_application():
    raise NotImplementedError(
        "get_default_application reads Django settings, which a wasmsock plugin has not; "
        "wasmsock builds the plugin from its routing.py"
    )


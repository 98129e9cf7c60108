"""Finding a plugin's application: the same code runs when the plugin is
built (to write its routes) and inside the plugin (to serve them), so both
always agree.

A plugin folder holds Channels code as it is:

- a ``routing.py`` (at the top of the folder, or in one package of it, as
  the Channels tutorial's ``chat/routing.py``) defining ``application``
  (a ``ProtocolTypeRouter``, a ``URLRouter``, middleware around them) or
  ``websocket_urlpatterns`` (a list of ``path()``/``re_path()``), which
  is routed with ``URLRouter``;
- or, without a ``routing.py``, a ``consumers.py`` defining exactly one
  consumer class, served on the plugin's default route ``/NAME``.
"""

import importlib
import inspect

from channels.consumer import AsyncConsumer
from channels.routing import URLRouter

__all__ = ["PluginError", "load_application"]


class PluginError(Exception):
    """The folder does not make a plugin; the message says what to change."""


def load_application(kind, module_name):
    """The ASGI application of the plugin: ``kind`` is ``"routing"`` or
    ``"consumers"``, ``module_name`` the module to import (``"routing"``,
    ``"chat.routing"``, ``"consumers"``)."""
    module = importlib.import_module(module_name)
    if kind == "routing":
        application = getattr(module, "application", None)
        if application is not None:
            return application
        patterns = getattr(module, "websocket_urlpatterns", None)
        if patterns is None:
            raise PluginError(
                f"{module_name}: defines neither `application` nor `websocket_urlpatterns`; "
                "define websocket_urlpatterns = [path('ws/x/', Consumer.as_asgi())]"
            )
        return URLRouter(patterns)
    if kind == "consumers":
        found = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, AsyncConsumer)
            and value.__module__ == module.__name__
        ]
        if len(found) != 1:
            names = ", ".join(c.__name__ for c in found) or "none"
            raise PluginError(
                f"{module_name}: without a routing.py, consumers.py must define exactly one "
                f"consumer class (it defines {names}); add a routing.py with "
                "websocket_urlpatterns to serve several"
            )
        return found[0].as_asgi()
    raise PluginError(f"unknown kind of plugin module {kind!r}")

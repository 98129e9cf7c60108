"""``django.urls`` as ``routing.py`` uses it: ``path``, ``re_path``,
``register_converter`` (see ``wasmsock_channels.urls``)."""

from wasmsock_channels.urls import (  # noqa: F401
    RegexPattern,
    RoutePattern,
    URLPattern,
    include,
    path,
    re_path,
    register_converter,
)

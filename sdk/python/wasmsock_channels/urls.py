"""Django's URL patterns, as ``django.urls.path`` and ``re_path`` make them,
for Channels' ``URLRouter``: the same regular expressions, converters and
matching, so that a path routes to the same consumer with the same
``url_route`` arguments as under Channels.

Only what routing WebSockets needs is here: no ``reverse``, no
``include`` (Channels refuses it in ``URLRouter`` too; nest ``URLRouter``
instead).
"""

import re
import string
import uuid

__all__ = [
    "RoutePattern",
    "RegexPattern",
    "URLPattern",
    "path",
    "re_path",
    "register_converter",
    "include",
    "ImproperlyConfigured",
]


class ImproperlyConfigured(Exception):
    """A URL pattern Django would refuse (``django.core.exceptions``)."""


class StringConverter:
    regex = "[^/]+"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


class IntConverter:
    regex = "[0-9]+"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


class SlugConverter(StringConverter):
    regex = "[-a-zA-Z0-9_]+"


class UUIDConverter:
    regex = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    def to_python(self, value):
        return uuid.UUID(value)

    def to_url(self, value):
        return str(value)


class PathConverter(StringConverter):
    regex = ".+"


_CONVERTERS = {
    "int": IntConverter(),
    "path": PathConverter(),
    "slug": SlugConverter(),
    "str": StringConverter(),
    "uuid": UUIDConverter(),
}


def register_converter(converter, type_name):
    """Make ``<type_name:x>`` available in ``path()``, as in Django."""
    _CONVERTERS[type_name] = converter() if isinstance(converter, type) else converter


_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


def _route_parts(route):
    """``"chat/<int:room>/"`` → ``[("chat/", None), ("room", converter),
    ("/", None)]``: literal text, and parameters with their converters.
    Refuses what Django refuses."""
    original = route
    parts = []
    while True:
        match = _PARAMETER.search(route)
        if not match:
            if route:
                parts.append((route, None))
            return parts
        if not set(match.group()).isdisjoint(string.whitespace):
            raise ImproperlyConfigured(
                f"URL route {original!r} cannot contain whitespace in angle brackets <…>."
            )
        if match.start():
            parts.append((route[: match.start()], None))
        route = route[match.end():]
        parameter = match["parameter"]
        if not parameter.isidentifier():
            raise ImproperlyConfigured(
                f"URL route {original!r} uses parameter name {parameter!r} which isn't a "
                "valid Python identifier."
            )
        raw = match["converter"] or "str"
        try:
            converter = _CONVERTERS[raw]
        except KeyError:
            raise ImproperlyConfigured(
                f"URL route {original!r} uses invalid converter {raw!r}."
            ) from None
        parts.append((parameter, converter))


class RoutePattern:
    """A ``path()`` pattern: ``"chat/<str:room>/"``."""

    def __init__(self, route, name=None, is_endpoint=False):
        self._route = route
        self.name = name
        self._is_endpoint = is_endpoint
        self.parts = _route_parts(route)
        self.converters = {p: c for p, c in self.parts if c is not None}
        regex = ["^"]
        for text, converter in self.parts:
            if converter is None:
                regex.append(re.escape(text))
            else:
                regex.append(f"(?P<{text}>{converter.regex})")
        if is_endpoint:
            regex.append(r"\Z")
        self.regex = re.compile("".join(regex))

    def match(self, path):
        """``(remaining path, args, kwargs)`` or ``None``, as Django's."""
        match = self.regex.search(path)
        if not match:
            return None
        kwargs = match.groupdict()
        for key, value in kwargs.items():
            try:
                kwargs[key] = self.converters[key].to_python(value)
            except ValueError:
                return None
        return path[match.end():], (), kwargs

    def __str__(self):
        return str(self._route)

    def __repr__(self):
        return f"path({self._route!r})"


class RegexPattern:
    """A ``re_path()`` pattern: ``r"^chat/(?P<room>\\w+)/$"``."""

    def __init__(self, regex, name=None, is_endpoint=False):
        self._regex = regex
        self.name = name
        self._is_endpoint = is_endpoint
        try:
            self.regex = re.compile(regex)
        except re.error as e:
            raise ImproperlyConfigured(f'"{regex}" is not a valid regular expression: {e}') from None

    def match(self, path):
        """``(remaining path, args, kwargs)`` or ``None``, as Django's."""
        if self._is_endpoint and self._regex.endswith("$"):
            match = self.regex.fullmatch(path)
        else:
            match = self.regex.search(path)
        if not match:
            return None
        kwargs = match.groupdict()
        args = () if kwargs else match.groups()
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return path[match.end():], args, kwargs

    def __str__(self):
        return str(self._regex)

    def __repr__(self):
        return f"re_path({self._regex!r})"


class URLPattern:
    """A pattern and what it routes to (``callback``), with the extra
    keyword arguments ``default_args``."""

    def __init__(self, pattern, callback, default_args=None, name=None):
        self.pattern = pattern
        self.callback = callback
        self.default_args = default_args or {}
        self.name = name

    def __repr__(self):
        return f"<URLPattern {self.pattern!r}>"


def _make(pattern_class, route, view, kwargs, name):
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"kwargs argument must be a dict, but got {type(kwargs).__name__}.")
    if isinstance(view, (list, tuple)):
        raise ImproperlyConfigured(
            f"{route!r}: include() is not supported in URLRouter. Use nested URLRouter instances instead."
        )
    if hasattr(type(view), "as_asgi") and not isinstance(view, type):
        name = type(view).__name__
        raise TypeError(
            f"{route!r}: {name}() is a consumer instance; route the class instead: "
            f"{name}.as_asgi() (or {name})"
        )
    if not callable(view):
        raise TypeError(
            f"view must be a callable or a list/tuple in the case of include(), not {type(view).__name__}."
        )
    return URLPattern(pattern_class(route, name=name, is_endpoint=True), view, kwargs, name)


def path(route, view, kwargs=None, name=None):
    """``path("chat/<str:room>/", ChatConsumer.as_asgi())``."""
    return _make(RoutePattern, route, view, kwargs, name)


def re_path(route, view, kwargs=None, name=None):
    """``re_path(r"^chat/(?P<room>\\w+)/$", ChatConsumer.as_asgi())``."""
    return _make(RegexPattern, route, view, kwargs, name)


def include(arg, namespace=None):
    raise ImproperlyConfigured(
        "include() is not supported in URLRouter. Use nested URLRouter instances instead."
    )

"""The server's routes for a plugin, read from its Channels routing.

The wasmsock server routes a connection to a plugin by path segments:
literal segments and ``{name}`` parameters, one segment each, the trailing
slash not significant. A plugin's ``routing.py`` says more than that
(Django patterns, converters, regular expressions), and the plugin checks
all of it again for each connection (``channels.routing.URLRouter``). So the
server's routes only need to let through every path the routing matches:
``path("ws/chat/<str:room_name>/", ...)`` becomes ``/ws/chat/{room_name}/``,
and a converter (``<int:n>``) or a regular expression narrower than a
segment (``(?P<n>\\d+)``) is enforced by the plugin, which refuses with 404
what it does not match.

What the server cannot route is refused at build time with the reason:
a parameter that can span segments (``<path:p>``, ``(?P<p>.+)``), a
parameter sharing a segment with text (``room-<int:n>``), unnamed groups,
alternatives and repetitions in a ``re_path``, and a ``re_path`` endpoint
without ``$`` (Django would match every longer path too).

A ``re_path`` without ``^`` is routed as if it had one: Django would also
match it further into the path (``x/ws/chat/a/``), which the server does
not route.
"""

try:  # Python 3.11 and later
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10 and earlier
    import sre_constants as _sre
    import sre_parse as _sre_parse

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.consumer import ConsumerApp

from .urls import RegexPattern, RoutePattern

__all__ = ["RoutingError", "server_routes"]

_SLASH = ord("/")


class RoutingError(ValueError):
    """The routing cannot be expressed as the server's routes; the message
    says which pattern and why."""


def server_routes(application):
    """The server's route patterns for ``application`` (what
    ``routing.py`` gives), in routing order without duplicates; ``None``
    when it routes no paths itself (a consumer without ``URLRouter``: the
    plugin keeps the server's default route, ``/NAME``)."""
    found = []
    for tokens in _walk(application, [], "the application"):
        found.append(_to_route(tokens))
    if found == [None]:
        return None
    routes, shapes = [], set()
    for route, shape in found:
        if shape not in shapes:
            shapes.add(shape)
            routes.append(route)
    return routes


def _walk(app, prefix, where):
    """Yield the token lists (prefix + each endpoint's pattern) of every
    consumer reachable from ``app``; ``[None]`` for a consumer reached
    without any pattern."""
    seen = 0
    while True:
        seen += 1
        if seen > 100:
            raise RoutingError(f"{where}: middleware nested over 100 deep (a loop?)")
        if isinstance(app, ProtocolTypeRouter):
            if "websocket" not in app.application_mapping:
                raise RoutingError(
                    "ProtocolTypeRouter has no 'websocket' application; a wasmsock plugin "
                    "serves WebSocket connections only"
                )
            app = app.application_mapping["websocket"]
            where = "ProtocolTypeRouter['websocket']"
            continue
        inner = getattr(app, "inner", None)
        if inner is not None and not isinstance(app, (URLRouter, ConsumerApp)):
            app = inner
            continue
        break
    if isinstance(app, ConsumerApp):
        yield [None] if not prefix else prefix
        return
    if isinstance(app, URLRouter):
        for route in app.routes:
            tokens = prefix + _pattern_tokens(route.pattern)
            yield from _walk(route.callback, tokens, f"the route {route.pattern!r}")
        return
    raise RoutingError(
        f"{where} is {app!r}, which wasmsock cannot see into to find routes: route to "
        "consumers (Consumer.as_asgi()) with URLRouter, and let middleware keep the "
        "application it wraps in .inner (as channels.middleware.BaseMiddleware does)"
    )


# --- patterns to tokens ------------------------------------------------------
# A token is ("text", str), ("param", name, can_span_slash, pattern) or
# ("end", pattern) for an anchored end.


def _pattern_tokens(pattern):
    if isinstance(pattern, RoutePattern):
        tokens = []
        for text, converter in pattern.parts:
            if converter is None:
                tokens.extend(("text", c) for c in text)
            else:
                spans = _can_match_slash(_sre_parse.parse(converter.regex))
                tokens.append(("param", text, spans, pattern))
        if pattern._is_endpoint:
            tokens.append(("end", pattern))
        return tokens
    if isinstance(pattern, RegexPattern):
        return _regex_tokens(pattern)
    raise RoutingError(f"{pattern!r}: not a path() or re_path() pattern")


def _regex_tokens(pattern):
    def refuse(why):
        return RoutingError(
            f"{pattern!r}: {why}. The server routes literal segments and named "
            "groups that fill a segment each, such as "
            r"re_path(r'^ws/chat/(?P<room>[^/]+)/$', ...)"
        )

    try:
        parsed = _sre_parse.parse(pattern._regex)
    except Exception as e:  # re.error
        raise refuse(f"does not parse ({e})")
    names = {gid: name for name, gid in parsed.state.groupdict.items()}
    items = list(parsed)
    tokens = []
    if items and items[0][0] is _sre.AT and items[0][1] in (_sre.AT_BEGINNING, _sre.AT_BEGINNING_STRING):
        items = items[1:]
    anchored = False
    if items and items[-1][0] is _sre.AT and items[-1][1] in (_sre.AT_END, _sre.AT_END_STRING):
        anchored = True
        items = items[:-1]
    for op, av in items:
        if op is _sre.LITERAL:
            tokens.append(("text", chr(av)))
        elif op is _sre.SUBPATTERN:
            gid, sub = av[0], av[-1]
            if gid is None or gid not in names:
                raise refuse("has an unnamed group; name it (?P<name>...) so that it becomes a route parameter")
            tokens.append(("param", names[gid], _can_match_slash(sub), pattern))
        else:
            raise refuse(f"has {_describe(op)} outside a named group")
    if pattern._is_endpoint:
        if not anchored:
            raise refuse(
                "has no '$' at its end: Django matches every path that starts with it, "
                "the server only whole paths; end it with '$'"
            )
        tokens.append(("end", pattern))
    return tokens


def _describe(op):
    return {
        _sre.IN: "a character class",
        _sre.ANY: "'.'",
        _sre.BRANCH: "an alternative '|'",
        _sre.MAX_REPEAT: "a repetition",
        _sre.MIN_REPEAT: "a repetition",
        _sre.AT: "an anchor in the middle",
        _sre.NOT_LITERAL: "a negated character",
    }.get(op, f"a {str(op).lower()} construct")


def _to_route(tokens):
    """``(route text, shape)`` for a token list; ``None`` for a consumer
    reached without a pattern. The shape (parameters unnamed, trailing
    slash dropped) is how the server tells two routes apart."""
    if tokens == [None]:
        return None
    patterns = [t[-1] for t in tokens if t[0] in ("param", "end")]
    where = patterns[-1] if patterns else "a route"
    body = []
    params = []
    for i, token in enumerate(tokens):
        kind = token[0]
        if kind == "text":
            body.append(token[1])
        elif kind == "param":
            _, name, spans, pattern = token
            before = tokens[i - 1] if i > 0 else None
            after = tokens[i + 1] if i + 1 < len(tokens) else None
            starts = before is None or before == ("text", "/")
            ends = after is None or after[0] == "end" or after == ("text", "/")
            if spans:
                raise RoutingError(
                    f"{pattern!r}: parameter {name!r} can match '/', so it can span several "
                    "path segments; the server gives each parameter one segment"
                )
            if not (starts and ends):
                raise RoutingError(
                    f"{pattern!r}: parameter {name!r} shares a path segment with other text; "
                    "the server's parameters are whole segments ('/{name}/')"
                )
            if name in params:
                raise RoutingError(f"{pattern!r}: parameter {name!r} appears twice in one route")
            params.append(name)
            body.append("{" + name + "}")
    route = "/" + "".join(body)
    segments = [s for s in route.strip("/").split("/")]
    if route.strip("/") and any(s == "" for s in segments):
        raise RoutingError(f"{where!r}: the path has an empty segment ('//'), which the server cannot route")
    for seg in segments:
        if seg.startswith("{") and seg.endswith("}"):
            continue
        bad = [c for c in seg if c in "{}?# " or ord(c) < 32]
        if bad:
            raise RoutingError(
                f"{where!r}: the segment {seg!r} has {bad[0]!r}, which the server's routes cannot hold"
            )
    shape = "/" + "/".join("{}" if s.startswith("{") and s.endswith("}") else s for s in segments)
    return route, shape


# --- can a regular expression match '/'? -------------------------------------
_NOT_CATEGORIES = {
    _sre.CATEGORY_NOT_DIGIT,
    _sre.CATEGORY_NOT_SPACE,
    _sre.CATEGORY_NOT_WORD,
    _sre.CATEGORY_NOT_LINEBREAK,
}


def _in_matches_slash(items):
    negate = False
    hit = False
    for op, av in items:
        if op is _sre.NEGATE:
            negate = True
        elif op is _sre.LITERAL:
            hit = hit or av == _SLASH
        elif op is _sre.NOT_LITERAL:
            hit = hit or av != _SLASH
        elif op is _sre.RANGE:
            hit = hit or av[0] <= _SLASH <= av[1]
        elif op is _sre.CATEGORY:
            hit = hit or av in _NOT_CATEGORIES
        else:
            hit = True  # unknown: assume it may
    return hit != negate


def _can_match_slash(items):
    """Whether some string the (parsed) expression matches contains '/'.
    Errs towards yes for constructs it does not know."""
    for op, av in items:
        if op is _sre.LITERAL:
            if av == _SLASH:
                return True
        elif op is _sre.NOT_LITERAL:
            if av != _SLASH:
                return True
        elif op is _sre.ANY:
            return True
        elif op is _sre.IN:
            if _in_matches_slash(av):
                return True
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) or str(op) == "POSSESSIVE_REPEAT":
            if _can_match_slash(av[2]):
                return True
        elif op is _sre.SUBPATTERN:
            if _can_match_slash(av[-1]):
                return True
        elif op is _sre.BRANCH:
            if any(_can_match_slash(branch) for branch in av[1]):
                return True
        elif str(op) == "ATOMIC_GROUP":
            if _can_match_slash(av):
                return True
        elif op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue  # zero width
        else:
            return True
    return False

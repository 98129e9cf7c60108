"""The Channels scope (``self.scope``) built from what the host tells a
plugin about a connection (the WIT ``scope`` record).

Shaped as the ASGI WebSocket scope daphne gives Channels, with what
Channels' routing and middleware add: ``type``, ``path`` (percent-decoded),
``raw_path``, ``query_string`` (bytes, as sent), ``headers`` (a list of
lower-case ``(name, value)`` byte pairs), ``client`` and ``server``
(``[host, port]``), ``subprotocols``, ``cookies`` (a dict) and, after
routing, ``url_route`` (``{"args": (), "kwargs": {...}}``).

``user`` and ``identity`` come from the host's ``identity`` import
(:func:`add_identity`): who the handshake established the connection is.

``server`` comes from the ``Host`` header the client sent (the host gives
plugins no listening address); ``None`` when there is none.
"""

import json
from urllib.parse import unquote

# At the top: a plugin holds only the modules imported while it was built.
from channels.auth import AnonymousUser, User

__all__ = ["add_identity", "build_scope", "split_host_port"]


def split_host_port(text, default_port=None):
    """``"127.0.0.1:8000"`` → ``["127.0.0.1", 8000]``; IPv6 in brackets
    (``"[::1]:8000"``) loses them, as ASGI servers give it."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = text, ""
    if port.isdigit():
        return [host, int(port)]
    return [host, default_port]


def build_scope(path, query, headers, cookies, subprotocols, remote_addr):
    """The scope before routing (routing adds ``url_route`` and
    ``path_remaining``). Arguments are the WIT scope's fields: ``headers``
    and ``cookies`` lists of string pairs."""
    byte_headers = [(name.encode("latin-1", "replace"), value.encode("utf-8")) for name, value in headers]
    server = None
    for name, value in headers:
        if name == "host":
            server = split_host_port(value, 80)
            break
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": unquote(path),
        "raw_path": path.encode("utf-8"),
        "root_path": "",
        "query_string": query.encode("utf-8"),
        "headers": byte_headers,
        "client": split_host_port(remote_addr),
        "server": server,
        "subprotocols": list(subprotocols),
        "cookies": dict(cookies),
        "extensions": {},
    }


def add_identity(scope, subject=None, claims=None, values=()):
    """Set ``scope["user"]`` (a ``User`` named by ``subject``, or
    ``AnonymousUser()``) and ``scope["identity"]`` (``subject``, ``claims``
    parsed from their JSON text, ``values`` as a list of pairs)."""
    parsed = None
    if claims is not None:
        try:
            parsed = json.loads(claims)
        except ValueError:
            parsed = None
    scope["identity"] = {"subject": subject, "claims": parsed, "values": [tuple(v) for v in values]}
    scope["user"] = User(subject, parsed) if subject is not None else AnonymousUser()
    return scope

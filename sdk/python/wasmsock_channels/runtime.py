"""The plugin's side of each connection: one consumer object per connection,
created when it connects, called for each message and event, dropped when
it ends (``Runtime.links`` is the map from connection id to it).

This module does not talk to the host itself: ``plugin.py`` gives it a
``host`` object (the WIT imports, wrapped) so that the same code can be
tested outside wasm with a stand-in. What it asks of ``host``:

- ``send(conn, text_or_bytes)``, ``close(conn, code, reason)``;
- ``join(conn, group)``, ``leave(conn, group)``, ``address(conn)``;
- ``group_send(group, text)`` and ``send_event(address, text)`` (events);
- ``log(level, text)`` with ``level`` one of "debug", "info", "warn",
  "error";

each raising :class:`HostError` when the host refuses.

Failures are kept to the connection that caused them, as an ASGI server
does: an exception from a consumer is logged with its traceback and its
connection is refused (500, while connecting) or closed with 1011; the
plugin instance and every other connection go on. (An exception escaping
into the host would trap the instance, closing all of its connections.)
"""

import json
import sys
import traceback

from channels.exceptions import ChannelFull, DenyConnection, MessageTooLarge, StopConsumer
from channels.layers import get_channel_layer
from channels.routing import NoRoute

from . import aio
from .scope import add_identity, build_scope

__all__ = ["HostError", "Refuse", "Runtime", "current", "install"]

# Connection states, as the consumer sees them.
CONNECTING = "connecting"  # in connect(), not accepted yet
ACCEPTED = "accepted"  # accepted in connect(); the upgrade follows
REFUSED = "refused"  # closed (or denied) before accepting: 403
OPEN = "open"
CLOSED = "closed"  # the server started the close, or the socket is gone


class HostError(Exception):
    """The host refused a call: ``kind`` is the WIT error case
    ("closed", "too-large", "invalid-close", "queue-full",
    "unknown-connection", "invalid-name", "too-many-groups"), ``value``
    its payload (the limit) if any."""

    def __init__(self, kind, value=None):
        super().__init__(kind if value is None else f"{kind}({value})")
        self.kind = kind
        self.value = value


class Refuse(Exception):
    """``on_connect``'s answer when the connection is not accepted."""

    def __init__(self, status, body=""):
        super().__init__(status)
        self.status = status
        self.body = body


class Accepted:
    """``on_connect``'s answer when it is: the subprotocol and the extra
    headers of the 101 response."""

    __slots__ = ("subprotocol", "headers")

    def __init__(self, subprotocol, headers):
        self.subprotocol = subprotocol
        self.headers = headers


class Selector:
    """Passed to the routing as ASGI ``send``: the consumer app the routing
    reaches records itself and the scope it was given here."""

    __slots__ = ("app", "scope")

    def __init__(self):
        self.app = None
        self.scope = None

    def wasmsock_select(self, app, scope):
        self.app = app
        self.scope = scope


def _name(consumer):
    cls = type(consumer)
    return f"{cls.__module__}.{cls.__qualname__}"


class Link:
    """One connection: its consumer and what it did with the handshake.
    ``base_send`` is Channels' ASGI ``send``: it turns the consumer's
    ``websocket.*`` messages into host calls."""

    __slots__ = ("runtime", "conn", "consumer", "state", "subprotocol", "headers", "channel_name")

    def __init__(self, runtime, conn):
        self.runtime = runtime
        self.conn = conn
        self.consumer = None
        self.state = CONNECTING
        self.subprotocol = None
        self.headers = []
        self.channel_name = None

    def base_send(self, message):
        try:
            kind = message["type"]
        except (KeyError, TypeError):
            raise ValueError("Message has no type defined") from None
        if kind == "websocket.send":
            self._send(message)
        elif kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            self._close(message)
        else:
            raise ValueError(
                f"a WebSocket consumer sends websocket.accept, websocket.send and "
                f"websocket.close; {kind!r} is not one of them"
            )

    async def abase_send(self, message):
        """``base_send`` for async consumers: it never suspends."""
        self.base_send(message)

    def _send(self, message):
        text = message.get("text")
        data = message.get("bytes")
        if text is not None and data is not None:
            raise ValueError("Cannot send a message with both text and bytes")
        if self.state in (CONNECTING, REFUSED):
            raise ValueError("Socket has not been accepted, so cannot send over it: call self.accept() first")
        if self.state == CLOSED:
            return  # after the close frame nothing more goes out, as on any server
        if text is not None:
            if not isinstance(text, str):
                raise TypeError(f"text_data must be str, not {type(text).__name__}")
            payload = text
        elif data is not None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"bytes_data must be bytes, not {type(data).__name__}")
            payload = bytes(data)
        else:
            raise ValueError("websocket.send needs 'text' or 'bytes'")
        try:
            self.runtime.host.send(self.conn, payload)
        except HostError as e:
            if e.kind == "closed":
                self.state = CLOSED
            elif e.kind == "queue-full":
                # The host closes a client that stopped reading (1008).
                self.state = CLOSED
            elif e.kind == "too-large":
                raise MessageTooLarge(
                    f"a {len(payload)}-byte message is over the server's max_message_size ({e.value} bytes)"
                ) from None
            else:
                raise

    def _accept(self, message):
        if self.state != CONNECTING:
            if self.state in (ACCEPTED, OPEN):
                self.runtime.host.log("warn", f"{_name(self.consumer)}: accept() on a connection already accepted; ignored")
            return
        self.state = ACCEPTED
        self.subprotocol = message.get("subprotocol")
        headers = []
        for name, value in message.get("headers") or []:
            if isinstance(name, bytes):
                name = name.decode("latin-1")
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            headers.append((name, value))
        self.headers = headers

    def _close(self, message):
        if self.state == CONNECTING:
            self.state = REFUSED
            return
        if self.state not in (ACCEPTED, OPEN):
            return
        code = message.get("code", 1000)
        reason = message.get("reason") or ""
        try:
            self.runtime.host.close(self.conn, code, reason)
        except HostError as e:
            if e.kind == "invalid-close":
                raise ValueError(
                    f"close({code!r}, {reason!r}): a server may close with 1000, 1001, 1003, "
                    "1007-1014 or 3000-4999, and a reason of at most 123 bytes"
                ) from None
            if e.kind not in ("closed", "queue-full"):
                raise
        self.state = CLOSED


class Runtime:
    """The plugin's connections and their consumers."""

    def __init__(self, host, application):
        self.host = host
        self.application = application
        self.links = {}
        self.by_channel = {}
        self.layer = get_channel_layer()

    # --- the host's callbacks ---------------------------------------------

    def on_connect(self, conn, path, query, headers, cookies, subprotocols, remote_addr, params=(), identity=None):
        """Route the connection, create its consumer and run ``connect``.
        ``identity`` is ``(subject, claims_json, values)`` from the host, or
        ``None`` for an anonymous connection. Returns :class:`Accepted` or
        raises :class:`Refuse`."""
        scope = build_scope(path, query, headers, cookies, subprotocols, remote_addr)
        add_identity(scope, *(identity or ()))
        try:
            app, scope = self._route(scope, params)
        except NoRoute as e:
            raise Refuse(404, f"{e}\n")
        except DenyConnection:
            raise Refuse(403)
        except Exception as e:
            self.report_failure(f"routing {path!r}", e, "refusing the connection with 500")
            raise Refuse(500)
        link = Link(self, conn)
        try:
            consumer = app.consumer_class(**app.consumer_initkwargs)
            link.consumer = consumer
            link.channel_name = self.host.address(conn)
            consumer.scope = scope
            consumer.channel_layer = self.layer
            consumer.channel_name = link.channel_name
            consumer.base_send = link.base_send if consumer._sync else link.abase_send
            self.links[conn] = link
            self.by_channel[link.channel_name] = conn
            self._dispatch(consumer, {"type": "websocket.connect"})
        except Exception as e:
            self._forget(conn, link)
            self.report_failure(f"{_name(link.consumer) if link.consumer else app}.connect", e, "refusing the connection with 500")
            raise Refuse(500)
        if link.state == ACCEPTED:
            link.state = OPEN
            return Accepted(link.subprotocol, link.headers)
        if link.state == CLOSED:  # accepted, then closed in connect(): the close follows the upgrade
            return Accepted(link.subprotocol, link.headers)
        # Not accepted, or closed before accepting: Channels' servers refuse
        # the handshake with 403.
        self._forget(conn, link)
        raise Refuse(403)

    def on_message(self, conn, payload):
        """A text (``str``) or binary (``bytes``) message."""
        link = self.links.get(conn)
        if link is None:
            return
        if isinstance(payload, str):
            message = {"type": "websocket.receive", "text": payload}
        else:
            message = {"type": "websocket.receive", "bytes": payload}
        self._call(link, message, "receive")

    def on_event(self, conn, payload):
        """A channel layer event for the connection's consumer: a dict sent
        as JSON text by ``group_send`` or ``send`` (this SDK's, or another
        plugin's). The consumer's handler for its ``type`` gets it; a
        consumer without one fails as in Channels ("No handler for message
        type")."""
        link = self.links.get(conn)
        if link is None:
            return
        try:
            event = json.loads(payload)
        except ValueError as e:
            self.host.log("warn", f"{_name(link.consumer)}: an event that is not JSON was dropped ({e})")
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self.host.log("warn", f"{_name(link.consumer)}: an event without a 'type' was dropped")
            return
        self._call(link, event, event["type"])

    def on_gap(self, conn, group, lost):
        """Events of ``group`` sent from another server never reached this
        connection. Channels has no word for it: a consumer that wants to
        know defines ``wasmsock_gap(self, event)`` and gets ``{"type":
        "wasmsock.gap", "group": ..., "lost": n}``; otherwise it is logged."""
        link = self.links.get(conn)
        if link is None:
            return
        if getattr(link.consumer, "wasmsock_gap", None) is None:
            self.host.log("warn", f"{_name(link.consumer)}: {lost} event(s) of group {group!r} were lost on the way")
            return
        self._call(link, {"type": "wasmsock.gap", "group": group, "lost": lost}, "wasmsock.gap")

    def on_disconnect(self, conn, code, reason):
        link = self.links.get(conn)
        if link is None:
            return
        link.state = CLOSED
        try:
            self._dispatch(link.consumer, {"type": "websocket.disconnect", "code": code, "reason": reason})
        except StopConsumer:
            pass
        except Exception as e:
            self.report_failure(f"{_name(link.consumer)}.disconnect", e, "the connection was already closed")
        finally:
            self._forget(conn, link)

    # --- the channel layer ----------------------------------------------------

    def _conn_of(self, channel, what):
        conn = self.by_channel.get(channel)
        if conn is None:
            raise ValueError(
                f"channel_layer.{what}: {channel!r} is not the channel_name of a connection "
                "this plugin instance serves; a consumer adds or removes its own "
                "connection (self.channel_name)"
            )
        return conn

    def group_add(self, group, channel):
        conn = self._conn_of(channel, "group_add")
        try:
            self.host.join(conn, group)
        except HostError as e:
            raise self._group_error("group_add", group, e) from None

    def group_discard(self, group, channel):
        conn = self.by_channel.get(channel)
        if conn is None:
            return  # gone already: a closed connection is in no group
        try:
            self.host.leave(conn, group)
        except HostError as e:
            if e.kind != "unknown-connection":
                raise self._group_error("group_discard", group, e) from None

    def group_send(self, group, event):
        try:
            self.host.group_send(group, _encode_event(event))
        except HostError as e:
            raise self._group_error("group_send", group, e) from None

    def send_event(self, channel, event):
        try:
            self.host.send_event(channel, _encode_event(event))
        except HostError as e:
            raise self._group_error("send", channel, e) from None

    @staticmethod
    def _group_error(what, group, e):
        if e.kind == "invalid-name":
            return TypeError(
                f"channel_layer.{what}: {group!r} is not a valid name (1 to 100 ASCII "
                "letters, digits, '-', '_', '.')"
            )
        if e.kind == "too-many-groups":
            return ChannelFull(f"channel_layer.{what}: the connection is already in {e.value} groups, the most one may join")
        if e.kind == "too-large":
            return MessageTooLarge(f"channel_layer.{what}: the event is over the server's max_message_size ({e.value} bytes)")
        if e.kind == "invalid-address":
            return ValueError(f"channel_layer.{what}: {group!r} is not a channel_name this server gave out")
        return RuntimeError(f"channel_layer.{what}: the server refused: {e}")

    # --- helpers ----------------------------------------------------------------

    def _route(self, scope, params):
        selector = Selector()
        result = self.application(scope, None, selector)
        if hasattr(result, "send"):  # a coroutine: the routing's layers are async
            aio.run(result)
        if selector.app is None:
            raise RuntimeError(f"the routing returned without reaching a consumer for {scope['path']!r}")
        scope = selector.scope
        if "url_route" not in scope:
            # A consumer routed without URLRouter: the server's own route
            # parameters, if its manifest has any.
            scope = dict(scope, url_route={"args": (), "kwargs": dict(params)})
        return selector.app, scope

    def _dispatch(self, consumer, message):
        if consumer._sync:
            consumer.dispatch(message)
        else:
            aio.run(consumer.dispatch(message))

    def _call(self, link, message, what):
        """Dispatch to an open connection's consumer; a failure closes that
        connection with 1011."""
        try:
            self._dispatch(link.consumer, message)
        except StopConsumer:
            self._close_failed(link, 1000, "")
        except Exception as e:
            self.report_failure(f"{_name(link.consumer)} handling {what!r}", e, "closing the connection with 1011")
            self._close_failed(link, 1011, "consumer error")

    def _close_failed(self, link, code, reason):
        if link.state in (OPEN, ACCEPTED):
            try:
                self.host.close(link.conn, code, reason)
            except HostError:
                pass
        link.state = CLOSED
        # The consumer is done, as an ASGI application that raised is: it
        # hears nothing more, not even its disconnect.
        self._forget(link.conn, link)

    def _forget(self, conn, link):
        if self.links.get(conn) is link:
            del self.links[conn]
        if link.channel_name is not None and self.by_channel.get(link.channel_name) == conn:
            del self.by_channel[link.channel_name]

    def report_failure(self, what, error, then):
        """Log a failure: one ERROR line naming what failed, the exception
        and what happens next, then the traceback on stderr."""
        self.host.log(
            "error",
            f"{what} raised {type(error).__name__}: {error}; {then} (traceback on stderr)",
        )
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)


def _encode_event(event):
    try:
        return json.dumps(event)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"a channel layer event must be JSON-serialisable (dicts, lists, str, int, "
            f"float, bool, None): {e}"
        ) from None


_current = None


def install(runtime):
    """Make ``runtime`` the one the channel layer talks to."""
    global _current
    _current = runtime
    return runtime


def current():
    if _current is None:
        raise RuntimeError(
            "the channel layer works only inside a wasmsock plugin, while it serves a connection"
        )
    return _current

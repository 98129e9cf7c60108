"""The consumer side of connections (wasmsock_channels.runtime) with a
stand-in host: Channels' semantics for accept, refusal, send, close and
disconnect; routing per connection; failures kept to one connection; async
consumers; the channel layer; asgiref's shims."""

import asyncio
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from asgiref.sync import async_to_sync, sync_to_async  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.exceptions import DenyConnection  # noqa: E402
from channels.generic.websocket import (  # noqa: E402
    AsyncJsonWebsocketConsumer,
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)
from channels.routing import URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from wasmsock_channels import aio, runtime  # noqa: E402


class FakeHost:
    """Records every host call; refuses as the real host would."""

    def __init__(self):
        self.calls = []
        self.closed = set()
        self.members = {}

    def send(self, conn, payload):
        if conn in self.closed:
            raise runtime.HostError("closed")
        self.calls.append(("send", conn, payload))

    def close(self, conn, code, reason):
        if not (code in (1000, 1001, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999):
            raise runtime.HostError("invalid-close")
        self.calls.append(("close", conn, code, reason))
        self.closed.add(conn)

    def join(self, conn, group):
        self.members.setdefault(group, set()).add(conn)

    def leave(self, conn, group):
        self.members.get(group, set()).discard(conn)

    def address(self, conn):
        return f"host.{conn}"

    def group_send(self, group, text):
        self.calls.append(("group_send", group, text))

    def send_event(self, address, text):
        self.calls.append(("send_event", address, text))

    def log(self, level, text):
        self.calls.append(("log", level, text))

    def of(self, kind):
        return [c[1:] for c in self.calls if c[0] == kind]


class Echo(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        if text_data == "boom":
            raise KeyError("boom")
        if text_data == "early-close":
            self.close(4001, "bye")
            return
        self.send(text_data=text_data, bytes_data=bytes_data)


class Refuser(WebsocketConsumer):
    def connect(self):
        how = self.scope["url_route"]["kwargs"]["how"]
        if how == "close":
            self.close()
        elif how == "raise":
            raise DenyConnection()
        elif how == "send":
            self.send(text_data="too early")
        elif how == "accept-close":
            self.accept("v1")
            self.close(4000)


class Json(JsonWebsocketConsumer):
    def receive_json(self, content, **kwargs):
        self.send_json({"got": content})


class Async(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "sleep":
            await asyncio.sleep(1)
        elif text_data == "task":
            await asyncio.gather(asyncio.sleep(0))
        await asyncio.sleep(0)
        await self.send(text_data=await sync_to_async(str.upper)(text_data))


class AsyncJson(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        await self.send_json([content])


class Room(WebsocketConsumer):
    def connect(self):
        async_to_sync(self.channel_layer.group_add)("room", self.channel_name)
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        if text_data == "other":
            async_to_sync(self.channel_layer.group_add)("room", "host.999")
        async_to_sync(self.channel_layer.group_send)("room", {"type": "chat.message", "text": text_data})

    def chat_message(self, event):
        self.send(text_data=event["text"])


class Who(WebsocketConsumer):
    def connect(self):
        self.accept()
        user = self.scope["user"]
        self.send(text_data=f"{user.is_authenticated} {user.is_anonymous} {user.username!r} {user.pk!r}")


APP = URLRouter(
    [
        path("who/", AuthMiddlewareStack(URLRouter([path("", Who.as_asgi())]))),
        path("echo/", Echo.as_asgi()),
        path("refuse/<str:how>/", Refuser.as_asgi()),
        path("json/", Json.as_asgi()),
        path("async/", Async.as_asgi()),
        path("async-json/", AsyncJson.as_asgi()),
        path("room/<int:n>/", Room.as_asgi()),
    ]
)


class Base(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        self.rt = runtime.install(runtime.Runtime(self.host, APP))
        self.next = 0
        # Tracebacks of the failures these tests cause are not wanted here.
        self._stderr, sys.stderr = sys.stderr, open(os.devnull, "w")

    def tearDown(self):
        sys.stderr.close()
        sys.stderr = self._stderr

    def connect(self, path, headers=()):
        self.next += 1
        conn = self.next
        result = self.rt.on_connect(conn, path, "a=1", list(headers), [("k", "v")], [], "127.0.0.1:5000")
        return conn, result

    def test_identity_is_scope_user(self):
        self.next += 1
        who = ("ada", '{"sub": "ada", "team": "blue"}', [("role", "admin")])
        self.rt.on_connect(self.next, "/who/", "", [], [], [], "127.0.0.1:5000", (), who)
        self.assertEqual(self.host.calls[-1], ("send", self.next, "True False 'ada' 'ada'"))
        link = self.rt.links[self.next]
        ident = link.consumer.scope["identity"]
        self.assertEqual(ident["claims"]["team"], "blue")
        self.assertEqual(ident["values"], [("role", "admin")])
        self.assertEqual(link.consumer.scope["user"].claims["sub"], "ada")
        conn, _ = self.connect("/who/")
        self.assertEqual(self.host.calls[-1], ("send", conn, "False True '' None"))

    def refused(self, path):
        with self.assertRaises(runtime.Refuse) as caught:
            self.connect(path)
        return caught.exception.status


class Handshake(Base):
    def test_accept_and_echo(self):
        conn, result = self.connect("/echo/", [("host", "h:8000")])
        self.assertIsNone(result.subprotocol)
        self.rt.on_message(conn, "hi")
        self.rt.on_message(conn, b"\x00")
        self.assertEqual(self.host.of("send"), [(conn, "hi"), (conn, b"\x00")])
        scope = self.rt.links[conn].consumer.scope
        self.assertEqual(scope["query_string"], b"a=1")
        self.assertEqual(scope["server"], ["h", 8000])
        self.assertEqual(scope["client"], ["127.0.0.1", 5000])
        self.assertEqual(scope["cookies"], {"k": "v"})

    def test_refusals_are_403(self):
        for how in ("none", "close", "raise"):
            self.assertEqual(self.refused(f"/refuse/{how}/"), 403, how)
        self.assertEqual(self.rt.links, {}, "refused consumers are dropped")

    def test_send_before_accept_is_the_consumers_error(self):
        self.assertEqual(self.refused("/refuse/send/"), 500)
        self.assertIn("Socket has not been accepted", str(self.host.of("log")))

    def test_accept_then_close_in_connect(self):
        conn, result = self.connect("/refuse/accept-close/")
        self.assertEqual(result.subprotocol, "v1")
        self.assertEqual(self.host.of("close"), [(conn, 4000, "")])

    def test_unrouted_paths_are_404(self):
        self.assertEqual(self.refused("/nowhere/"), 404)
        self.assertEqual(self.refused("/echo"), 404, "Django's trailing slash")
        self.assertEqual(self.refused("/room/x/"), 404, "<int:n> wants digits")

    def test_url_route_kwargs_are_converted(self):
        conn, _ = self.connect("/room/12/")
        self.assertEqual(self.rt.links[conn].consumer.scope["url_route"], {"args": (), "kwargs": {"n": 12}})


class Lifecycle(Base):
    def test_close_and_disconnect(self):
        conn, _ = self.connect("/echo/")
        self.rt.on_message(conn, "early-close")
        self.assertEqual(self.host.of("close"), [(conn, 4001, "bye")])
        self.rt.on_message(conn, "after")  # dropped: the server closed it
        self.assertEqual(self.host.of("send"), [])
        self.rt.on_disconnect(conn, 4001, "bye")
        self.assertNotIn(conn, self.rt.links)

    def test_a_failure_closes_its_connection_only(self):
        a, _ = self.connect("/echo/")
        b, _ = self.connect("/echo/")
        self.rt.on_message(a, "boom")
        self.assertEqual(self.host.of("close"), [(a, 1011, "consumer error")])
        self.assertNotIn(a, self.rt.links)
        self.rt.on_message(b, "ok")
        self.assertEqual(self.host.of("send"), [(b, "ok")])
        self.assertTrue(any("raised KeyError" in c[1] for c in self.host.of("log")))

    def test_json(self):
        conn, _ = self.connect("/json/")
        self.rt.on_message(conn, '{"a": [1]}')
        self.assertEqual(self.host.of("send"), [(conn, '{"got": {"a": [1]}}')])
        c2, _ = self.connect("/async-json/")
        self.rt.on_message(c2, "2")
        self.assertEqual(self.host.of("send")[-1], (c2, "[2]"))


class Async(Base):
    def test_coroutines_run_to_completion(self):
        conn, _ = self.connect("/async/")
        self.rt.on_message(conn, "hi")
        self.assertEqual(self.host.of("send"), [(conn, "HI")])

    def test_real_waits_are_a_clear_error(self):
        for what in ("sleep", "task"):
            conn, _ = self.connect("/async/")
            self.rt.on_message(conn, what)
            self.assertIn((conn, 1011, "consumer error"), self.host.of("close"), what)
        errors = [c[1] for c in self.host.of("log") if c[0] == "error"]
        self.assertIn("loop.create_future()", errors[0])
        self.assertIn("loop.create_task()", errors[1])
        self.assertIsNone(asyncio.events._get_running_loop(), "the stand-in loop is removed")

    def test_awaiting_a_pending_future_is_refused_where_it_waits(self):
        class Pending:
            def __await__(self):
                yield "something"

        async def waits():
            try:
                await Pending()
            except aio.UnsupportedWait as e:
                return str(e)

        self.assertIn("awaited 'something'", aio.run(waits()))

    def test_asgiref_shims(self):
        async def add(a, b):
            return a + b

        self.assertEqual(async_to_sync(add)(1, 2), 3)
        from channels.db import database_sync_to_async

        self.assertEqual(aio.run(database_sync_to_async(lambda x: x + 1)(1)), 2)
        self.assertEqual(aio.run(sync_to_async(lambda: 5)()), 5)
        with self.assertRaises(TypeError):
            sync_to_async(add)


class Layer(Base):
    def test_groups_and_events(self):
        conn, _ = self.connect("/room/1/")
        self.assertEqual(self.host.members["room"], {conn})
        self.rt.on_message(conn, "hi")
        self.assertEqual(self.host.of("group_send"), [("room", '{"type": "chat.message", "text": "hi"}')])
        self.rt.on_event(conn, '{"type": "chat.message", "text": "hi"}')
        self.assertEqual(self.host.of("send"), [(conn, "hi")])
        self.rt.on_event(conn, '{"type": "nobody.handles"}')
        self.assertEqual(self.host.of("close"), [(conn, 1011, "consumer error")])
        self.assertTrue(any("No handler for message type nobody.handles" in c[1] for c in self.host.of("log")))

    def test_only_own_channels_join(self):
        conn, _ = self.connect("/room/1/")
        self.rt.on_message(conn, "other")
        self.assertTrue(any("not the channel_name of a connection" in c[1] for c in self.host.of("log")))

    def test_events_must_be_json_dicts(self):
        conn, _ = self.connect("/room/1/")
        consumer = self.rt.links[conn].consumer
        with self.assertRaises(TypeError):
            async_to_sync(consumer.channel_layer.group_send)("room", {"type": "x", "v": object()})
        with self.assertRaises(TypeError):
            async_to_sync(consumer.channel_layer.group_send)("bad name!", {"type": "x"})


if __name__ == "__main__":
    unittest.main()

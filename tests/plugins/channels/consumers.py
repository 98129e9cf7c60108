"""Consumers for tests/channels.rs, one plugin with a route each (one
componentize-py build for all of them). Each is written as under Django
Channels 4, and each test says what it checks."""

import asyncio
import json

from asgiref.sync import async_to_sync, sync_to_async
from channels.exceptions import DenyConnection
from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer,
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)


class JsonEcho(JsonWebsocketConsumer):
    """Answers each JSON message with {"got": message, "count": n}."""

    def connect(self):
        self.count = 0
        self.accept()

    def receive_json(self, content, **kwargs):
        self.count += 1
        self.send_json({"got": content, "count": self.count})


class AsyncEcho(AsyncWebsocketConsumer):
    """Echoes text and bytes from coroutines; "sleep" waits for real, which
    a plugin cannot; "double X" goes through sync_to_async."""

    async def connect(self):
        await self.accept()
        print(f"async connect {self.scope['path']}")

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "sleep":
            await asyncio.sleep(1)
            await self.send(text_data="slept")
        elif text_data is not None and text_data.startswith("double "):
            await asyncio.sleep(0)  # a bare yield is no wait: it goes on at once
            doubled = await sync_to_async(lambda s: s * 2)(text_data[7:])
            await self.send(text_data=doubled)
        elif text_data is not None:
            await self.send(text_data=text_data)
        else:
            await self.send(bytes_data=bytes_data)

    async def disconnect(self, code):
        print(f"async disconnect {code}")


class AsyncJsonEcho(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        await self.send_json({"async": content})


class Refuser(WebsocketConsumer):
    """/refuse/HOW/: refuses by not accepting ("none"), by close() before
    accepting ("close") or by raising DenyConnection ("raise")."""

    def connect(self):
        how = self.scope["url_route"]["kwargs"]["how"]
        if how == "close":
            self.close()
        elif how == "raise":
            raise DenyConnection()
        elif how == "accept":
            self.accept()


class Closer(WebsocketConsumer):
    """"close CODE REASON" closes with that code; "bye" sends then closes
    (send(close=True)); its disconnect prints the code it got."""

    def receive(self, text_data=None, bytes_data=None):
        if text_data.startswith("close "):
            _, code, reason = text_data.split(" ", 2)
            self.close(int(code), reason)
        elif text_data == "bye":
            self.send(text_data="bye", close=True)
        elif text_data == "bad-close":
            self.close(1005)

    def disconnect(self, code):
        print(f"closer disconnect code={code}")


class ScopeReport(WebsocketConsumer):
    """Accepts (with the first subprotocol offered, if any) and sends its
    scope as JSON, bytes shown as latin-1 text with their type checked."""

    def connect(self):
        offered = self.scope["subprotocols"]
        self.accept(subprotocol=offered[0] if offered else None)
        scope = self.scope
        kwargs = scope["url_route"]["kwargs"]
        self.send(
            text_data=json.dumps(
                {
                    "type": scope["type"],
                    "path": scope["path"],
                    "raw_path": scope["raw_path"].decode("latin-1"),
                    "query_string": scope["query_string"].decode("latin-1"),
                    "query_string_type": type(scope["query_string"]).__name__,
                    "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
                    "header_types": sorted({type(x).__name__ for pair in scope["headers"] for x in pair}),
                    "url_route": {"args": list(scope["url_route"]["args"]), "kwargs": kwargs},
                    "kwarg_types": {k: type(v).__name__ for k, v in kwargs.items()},
                    "cookies": scope["cookies"],
                    "client": scope["client"],
                    "server": scope["server"],
                    "subprotocols": scope["subprotocols"],
                    "user": str(scope.get("user")),
                    "is_authenticated": scope["user"].is_authenticated,
                    "identity": scope.get("identity"),
                    "channel_name": self.channel_name,
                }
            )
        )


class Failing(WebsocketConsumer):
    """"boom" raises: only this connection is closed (1011)."""

    def receive(self, text_data=None, bytes_data=None):
        if text_data == "boom":
            raise KeyError("boom")
        self.send(text_data=text_data)


class Room(WebsocketConsumer):
    """The Channels tutorial's room, sync: joins the group of its room on
    connect; "leave" leaves it; "whoami" answers its channel_name; "tell
    CHANNEL TEXT" sends TEXT to that one consumer; "nohandler" sends the
    room an event nobody handles; any other text goes to the room as a
    chat.message event."""

    def connect(self):
        self.room = "room-" + self.scope["url_route"]["kwargs"]["room"]
        async_to_sync(self.channel_layer.group_add)(self.room, self.channel_name)
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        if text_data == "leave":
            async_to_sync(self.channel_layer.group_discard)(self.room, self.channel_name)
            self.send(text_data="left")
        elif text_data == "whoami":
            self.send(text_data=self.channel_name)
        elif text_data.startswith("tell "):
            _, channel, text = text_data.split(" ", 2)
            async_to_sync(self.channel_layer.send)(channel, {"type": "chat.message", "text": text})
        elif text_data == "nohandler":
            async_to_sync(self.channel_layer.group_send)(self.room, {"type": "no.such.handler"})
        else:
            async_to_sync(self.channel_layer.group_send)(
                self.room, {"type": "chat.message", "text": text_data}
            )

    def chat_message(self, event):
        self.send(text_data=event["text"])


class AsyncRoom(AsyncWebsocketConsumer):
    """Room, async: the same rooms as Room's (its members hear each other),
    answering events with "async TEXT"; the group is left on disconnect
    through `groups`."""

    async def connect(self):
        self.room = "room-" + self.scope["url_route"]["kwargs"]["room"]
        self.groups = [self.room]
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None):
        if text_data == "leave":
            await self.channel_layer.group_discard(self.room, self.channel_name)
            await self.send(text_data="left")
            return
        await self.channel_layer.group_send(self.room, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event):
        await self.send(text_data="async " + event["text"])

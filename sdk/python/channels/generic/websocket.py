"""The WebSocket consumers of ``channels.generic.websocket``, with Channels
4's semantics:

- ``connect()`` accepts with ``self.accept(subprotocol=None, headers=None)``;
  ending ``connect()`` without accepting, ``self.close()`` before accepting
  or raising ``DenyConnection`` refuses the handshake with 403;
- ``receive(text_data=None, bytes_data=None)`` for each message;
  ``send(text_data=None, bytes_data=None, close=False)``;
  ``close(code=None, reason=None)``;
- ``disconnect(code)`` once the connection is gone, after the connection
  has left the groups in ``groups``;
- the JSON consumers decode text messages into ``receive_json(content)``
  and encode ``send_json(content)``.

The async variants have the same methods as coroutines; see
``wasmsock_channels.aio`` for how they are run.
"""

import json

from asgiref.sync import async_to_sync

from ..consumer import AsyncConsumer, SyncConsumer
from ..exceptions import (
    AcceptConnection,
    DenyConnection,
    InvalidChannelLayerError,
    StopConsumer,
)

__all__ = [
    "WebsocketConsumer",
    "JsonWebsocketConsumer",
    "AsyncWebsocketConsumer",
    "AsyncJsonWebsocketConsumer",
]


class WebsocketConsumer(SyncConsumer):
    """Base WebSocket consumer. Provides a general encapsulation for the
    WebSocket handling model that other applications can build on."""

    groups = None

    def __init__(self, *args, **kwargs):
        if self.groups is None:
            self.groups = []

    def websocket_connect(self, message):
        """Called when a WebSocket connection is opened."""
        try:
            for group in self.groups:
                async_to_sync(self.channel_layer.group_add)(group, self.channel_name)
        except AttributeError:
            raise InvalidChannelLayerError(
                "BACKEND is unconfigured or doesn't support groups"
            )
        try:
            self.connect()
        except AcceptConnection:
            self.accept()
        except DenyConnection:
            self.close()

    def connect(self):
        self.accept()

    def accept(self, subprotocol=None, headers=None):
        """Accepts an incoming socket."""
        message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = list(headers)
        super().send(message)

    def websocket_receive(self, message):
        """Called when a WebSocket frame is received. Decodes it and passes it
        to receive()."""
        if message.get("text") is not None:
            self.receive(text_data=message["text"])
        else:
            self.receive(bytes_data=message["bytes"])

    def receive(self, text_data=None, bytes_data=None):
        """Called with a decoded WebSocket frame."""
        pass

    def send(self, text_data=None, bytes_data=None, close=False):
        """Sends a reply back down the WebSocket."""
        if text_data is not None:
            super().send({"type": "websocket.send", "text": text_data})
        elif bytes_data is not None:
            super().send({"type": "websocket.send", "bytes": bytes_data})
        else:
            raise ValueError("You must pass one of bytes_data or text_data")
        if close:
            self.close(close)

    def close(self, code=None, reason=None):
        """Closes the WebSocket from the server end (code 1000 unless given);
        before accepting, refuses the handshake with 403."""
        message = {"type": "websocket.close"}
        if code is not None and code is not True:
            message["code"] = code
        if reason:
            message["reason"] = reason
        super().send(message)

    def websocket_disconnect(self, message):
        """Called when a WebSocket connection is closed. Base level so you
        don't need to call super() all the time."""
        try:
            for group in self.groups:
                async_to_sync(self.channel_layer.group_discard)(group, self.channel_name)
        except AttributeError:
            raise InvalidChannelLayerError(
                "BACKEND is unconfigured or doesn't support groups"
            )
        self.disconnect(message["code"])
        raise StopConsumer()

    def disconnect(self, code):
        """Called when a WebSocket connection is closed."""
        pass


class JsonWebsocketConsumer(WebsocketConsumer):
    """Variant of WebsocketConsumer that automatically JSON-encodes and
    decodes messages as they come in and go out. Expects everything to be
    text; will error on binary data."""

    def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data:
            self.receive_json(self.decode_json(text_data), **kwargs)
        else:
            raise ValueError("No text section for incoming WebSocket frame!")

    def receive_json(self, content, **kwargs):
        """Called with decoded JSON content."""
        pass

    def send_json(self, content, close=False):
        """Encode the given content as JSON and send it to the client."""
        super().send(text_data=self.encode_json(content), close=close)

    @classmethod
    def decode_json(cls, text_data):
        return json.loads(text_data)

    @classmethod
    def encode_json(cls, content):
        return json.dumps(content)


class AsyncWebsocketConsumer(AsyncConsumer):
    """Base WebSocket consumer, async version."""

    groups = None

    def __init__(self, *args, **kwargs):
        if self.groups is None:
            self.groups = []

    async def websocket_connect(self, message):
        """Called when a WebSocket connection is opened."""
        try:
            for group in self.groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except AttributeError:
            raise InvalidChannelLayerError(
                "BACKEND is unconfigured or doesn't support groups"
            )
        try:
            await self.connect()
        except AcceptConnection:
            await self.accept()
        except DenyConnection:
            await self.close()

    async def connect(self):
        await self.accept()

    async def accept(self, subprotocol=None, headers=None):
        """Accepts an incoming socket."""
        message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = list(headers)
        await super().send(message)

    async def websocket_receive(self, message):
        """Called when a WebSocket frame is received. Decodes it and passes it
        to receive()."""
        if message.get("text") is not None:
            await self.receive(text_data=message["text"])
        else:
            await self.receive(bytes_data=message["bytes"])

    async def receive(self, text_data=None, bytes_data=None):
        """Called with a decoded WebSocket frame."""
        pass

    async def send(self, text_data=None, bytes_data=None, close=False):
        """Sends a reply back down the WebSocket."""
        if text_data is not None:
            await super().send({"type": "websocket.send", "text": text_data})
        elif bytes_data is not None:
            await super().send({"type": "websocket.send", "bytes": bytes_data})
        else:
            raise ValueError("You must pass one of bytes_data or text_data")
        if close:
            await self.close(close)

    async def close(self, code=None, reason=None):
        """Closes the WebSocket from the server end (code 1000 unless given);
        before accepting, refuses the handshake with 403."""
        message = {"type": "websocket.close"}
        if code is not None and code is not True:
            message["code"] = code
        if reason:
            message["reason"] = reason
        await super().send(message)

    async def websocket_disconnect(self, message):
        """Called when a WebSocket connection is closed. Base level so you
        don't need to call super() all the time."""
        try:
            for group in self.groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        except AttributeError:
            raise InvalidChannelLayerError(
                "BACKEND is unconfigured or doesn't support groups"
            )
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code):
        """Called when a WebSocket connection is closed."""
        pass


class AsyncJsonWebsocketConsumer(AsyncWebsocketConsumer):
    """Variant of AsyncWebsocketConsumer that automatically JSON-encodes and
    decodes messages as they come in and go out. Expects everything to be
    text; will error on binary data."""

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data:
            await self.receive_json(await self.decode_json(text_data), **kwargs)
        else:
            raise ValueError("No text section for incoming WebSocket frame!")

    async def receive_json(self, content, **kwargs):
        """Called with decoded JSON content."""
        pass

    async def send_json(self, content, close=False):
        """Encode the given content as JSON and send it to the client."""
        await super().send(text_data=await self.encode_json(content), close=close)

    @classmethod
    async def decode_json(cls, text_data):
        return json.loads(text_data)

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content)

"""The base consumers, ``AsyncConsumer`` and ``SyncConsumer``, as in
``channels.consumer``: one object per connection, messages dispatched by
their ``type`` to the method of that name (``websocket.receive`` to
``websocket_receive``, ``chat.message`` to ``chat_message``).

In Channels, a consumer object is an ASGI application that an ASGI server
calls. Here the wasmsock plugin (``wasmsock_channels.runtime``) creates one
per connection and calls ``dispatch`` for each thing that happens to the
connection; before the first call it sets what Channels sets in
``__call__``: ``scope``, ``channel_layer``, ``channel_name`` and
``base_send`` (which turns ``websocket.accept``/``send``/``close`` messages
into host calls).
"""

import functools

from . import DEFAULT_CHANNEL_LAYER

__all__ = ["AsyncConsumer", "SyncConsumer", "get_handler_name"]


def get_handler_name(message):
    """The method name for a message: its ``type`` with dots turned into
    underscores. Types starting with an underscore are refused, so that a
    message cannot call a private method."""
    if "type" not in message:
        raise ValueError("Incoming message has no 'type' attribute")
    handler_name = message["type"].replace(".", "_")
    if handler_name.startswith("_"):
        raise ValueError("Malformed type in message (leading underscore)")
    return handler_name


class ConsumerApp:
    """What ``Consumer.as_asgi(**initkwargs)`` gives: the consumer class and
    the keyword arguments each connection's instance is created with, for
    routing to find. As in Channels, ``consumer_class`` and
    ``consumer_initkwargs`` name them."""

    def __init__(self, consumer_class, initkwargs):
        self.consumer_class = consumer_class
        self.consumer_initkwargs = initkwargs
        functools.update_wrapper(self, consumer_class, updated=())

    async def __call__(self, scope, receive, send):
        # Routing (channels.routing) reaches here with the scope that
        # middleware and URL routing built; the plugin's runtime passes a
        # selector as `send` that records which consumer serves the
        # connection. Nothing else can call a consumer: it runs only inside
        # the wasmsock server.
        select = getattr(send, "wasmsock_select", None)
        if select is None:
            raise TypeError(
                f"{self.consumer_class.__qualname__}.as_asgi() runs only inside a wasmsock "
                "plugin: build the folder with its build.sh and serve it with wasmsock"
            )
        select(self, scope)

    def __repr__(self):
        return f"{self.consumer_class.__qualname__}.as_asgi()"


class AsyncConsumer:
    """Base async consumer: ``dispatch`` awaits the handler method."""

    # Sync consumers' `dispatch` is called directly; async ones' is driven
    # to completion (wasmsock_channels.aio).
    _sync = False
    channel_layer_alias = DEFAULT_CHANNEL_LAYER

    async def dispatch(self, message):
        """Call the handler for the message's type, or fail naming it."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(self, message):
        """Send an ASGI message (``websocket.accept``, ``websocket.send``,
        ``websocket.close``) to the connection."""
        await self.base_send(message)

    @classmethod
    def as_asgi(cls, **initkwargs):
        """The consumer for routing: each connection gets its own instance,
        created with ``cls(**initkwargs)``."""
        return ConsumerApp(cls, initkwargs)


class SyncConsumer(AsyncConsumer):
    """Base sync consumer: ``dispatch`` calls the handler method."""

    _sync = True

    def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        handler(message)

    def send(self, message):
        """Send an ASGI message to the connection."""
        self.base_send(message)

"""Anchor: Django Channels echo consumers as one ASGI application.

Served by daphne or uvicorn (see bench/run). `/echo/async` is an
AsyncWebsocketConsumer, `/echo/sync` a WebsocketConsumer; both send every
message back as they received it (text as text, bytes as bytes).
"""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=["channels"],
    ROOT_URLCONF=__name__,
    LOGGING_CONFIG=None,
)
django.setup()

from channels.generic.websocket import (  # noqa: E402
    AsyncWebsocketConsumer,
    WebsocketConsumer,
)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

urlpatterns = []


class AsyncEcho(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class SyncEcho(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data=text_data, bytes_data=bytes_data)


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [
                path("echo/async", AsyncEcho.as_asgi()),
                path("echo/sync", SyncEcho.as_asgi()),
            ]
        )
    }
)

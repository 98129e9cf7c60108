"""Anchor: group fan-out in Django Channels over channels_redis.

The Channels way to write what bench/ref-broadcast and plugins/fanout do:
an AsyncWebsocketConsumer on `/fanout/<group>` that does group_add on
connect (before accepting, so a client that sees the upgrade is in the
group), group_send of each message it receives, and a `fanout.message`
handler that sends the event to its socket, leaving out the sender (as
the others do; group_send itself reaches every member). The channel layer
is channels_redis' RedisChannelLayer on the Redis at $REDIS_URL, which
bench/run starts beside the server.
"""

import os

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="benchmark-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=["channels"],
    ROOT_URLCONF=__name__,
    LOGGING_CONFIG=None,
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # No socket timeout, as redis-py had none before 8: its new 5 s
            # default equals channels_redis' 5 s BZPOPMIN, so under load the
            # layer's receive loop times out reading and its consumers die.
            "CONFIG": {
                "hosts": [
                    {"address": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), "socket_timeout": None}
                ]
            },
        }
    },
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

urlpatterns = []


class Fanout(AsyncWebsocketConsumer):
    async def connect(self):
        # Channels group names: ASCII letters, digits, '-', '_', '.'.
        self.group = "fanout." + self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(
            self.group,
            {"type": "fanout.message", "text": text_data, "bytes": bytes_data, "sender": self.channel_name},
        )

    async def fanout_message(self, event):
        if event["sender"] != self.channel_name:
            await self.send(text_data=event["text"], bytes_data=event["bytes"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([re_path(r"^fanout/(?P<group>[A-Za-z0-9_.-]{1,80})$", Fanout.as_asgi())])}
)

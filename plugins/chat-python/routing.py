"""The Channels tutorial's routing: build.sh turns it into the server's
route (/ws/chat/{room_name}/, chat-python.toml)."""

from django.urls import re_path

import consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
]

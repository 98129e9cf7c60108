"""The paths this plugin serves, as in a Channels project: build.sh turns
them into the server's routes (channels-echo.toml)."""

from django.urls import path

from consumers import EchoConsumer

websocket_urlpatterns = [
    path("channels-echo/", EchoConsumer.as_asgi()),
]

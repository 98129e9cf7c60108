"""The test routes, in Channels' tutorial shape (websocket_urlpatterns),
with a nested URLRouter and a re_path."""

from channels.routing import URLRouter
from django.urls import path, re_path

import consumers

websocket_urlpatterns = [
    path("json/", consumers.JsonEcho.as_asgi()),
    path("async/", consumers.AsyncEcho.as_asgi()),
    path("async-json/", consumers.AsyncJsonEcho.as_asgi()),
    path("refuse/<str:how>/", consumers.Refuser.as_asgi()),
    path("close/", consumers.Closer.as_asgi()),
    path("scope/<str:room>/<int:n>/", consumers.ScopeReport.as_asgi()),
    re_path(r"^re/(?P<word>[a-z]+)/$", consumers.ScopeReport.as_asgi()),
    path("fail/", consumers.Failing.as_asgi()),
    path(
        "chat/",
        URLRouter(
            [
                path("sync/<str:room>/", consumers.Room.as_asgi()),
                path("async/<str:room>/", consumers.AsyncRoom.as_asgi()),
            ]
        ),
    ),
]

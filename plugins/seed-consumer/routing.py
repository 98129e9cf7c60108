from channels.auth import AuthMiddlewareStack
from channels.sessions import SessionMiddlewareStack
from channels.routing import ProtocolTypeRouter,URLRouter
from django.urls import path, re_path
from consumers import test
application = ProtocolTypeRouter({
    'websocket':AuthMiddlewareStack(       # 'websocket':SessionMiddlewareStack(
        URLRouter ([
            # Empty for now (http->django views is added by default)
            # path('ws/parameter/<str:room_name>/', consumers),
            path('ncdev/',test.as_asgi()),
        ])
    )
})

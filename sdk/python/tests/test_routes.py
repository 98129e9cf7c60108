"""The server's routes read from Channels routing (wasmsock_channels.routes):
what translates, what is refused at build time and why."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.generic.websocket import WebsocketConsumer  # noqa: E402
from channels.middleware import BaseMiddleware  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from wasmsock_channels.routes import RoutingError, server_routes  # noqa: E402


class C(WebsocketConsumer):
    pass


def routes(*patterns):
    return server_routes(URLRouter(list(patterns)))


class Translation(unittest.TestCase):
    def test_the_seeds_routing(self):
        app = ProtocolTypeRouter(
            {"websocket": AuthMiddlewareStack(URLRouter([path("ncdev/", C.as_asgi())]))}
        )
        self.assertEqual(server_routes(app), ["/ncdev/"])

    def test_channels_2_routes_classes(self):
        self.assertEqual(routes(path("ncdev/", C)), ["/ncdev/"])

    def test_path_parameters_become_segments(self):
        self.assertEqual(
            routes(path("ws/chat/<str:room_name>/", C.as_asgi()), path("a/<int:n>/<slug:s>/<uuid:u>", C)),
            ["/ws/chat/{room_name}/", "/a/{n}/{s}/{u}"],
        )

    def test_the_tutorials_re_path(self):
        self.assertEqual(routes(re_path(r"ws/chat/(?P<room_name>\w+)/$", C.as_asgi())), ["/ws/chat/{room_name}/"])
        self.assertEqual(routes(re_path(r"^x/(?P<id>[0-9]+)$", C)), ["/x/{id}"])
        self.assertEqual(routes(re_path(r"^x/(?P<id>[^/]+)/$", C)), ["/x/{id}/"])

    def test_same_shapes_are_one_route(self):
        self.assertEqual(
            routes(path("chat/<int:n>/", C), path("chat/<str:name>/", C), path("chat/<str:other>", C)),
            ["/chat/{n}/"],
        )

    def test_nested_routers_join_their_prefixes(self):
        inner = URLRouter([path("sync/<str:room>/", C), re_path(r"^async/(?P<room>\w+)/$", C)])
        self.assertEqual(
            routes(path("chat/", inner), path("", C)),
            ["/chat/sync/{room}/", "/chat/async/{room}/", "/"],
        )

    def test_custom_middleware_is_seen_through(self):
        class Token(BaseMiddleware):
            pass

        app = ProtocolTypeRouter({"websocket": Token(URLRouter([path("x/", C)]))})
        self.assertEqual(server_routes(app), ["/x/"])

    def test_a_consumer_without_router_keeps_the_default_route(self):
        self.assertIsNone(server_routes(C.as_asgi()))
        self.assertIsNone(server_routes(ProtocolTypeRouter({"websocket": C.as_asgi()})))


class Refusals(unittest.TestCase):
    def refused(self, pattern, *words):
        with self.assertRaises(RoutingError) as caught:
            routes(pattern)
        for word in words:
            self.assertIn(word, str(caught.exception))

    def test_parameters_spanning_segments(self):
        self.refused(path("files/<path:p>", C), "'p' can match '/'")
        self.refused(re_path(r"^files/(?P<p>.+)$", C), "'p' can match '/'")
        self.refused(re_path(r"^files/(?P<p>\S+)$", C), "'p' can match '/'")

    def test_parameters_sharing_a_segment(self):
        self.refused(path("room-<int:n>/", C), "shares a path segment")
        self.refused(re_path(r"^r(?P<n>\d+)/$", C), "shares a path segment")

    def test_regular_expressions_beyond_segments(self):
        self.refused(re_path(r"^(a|b)/$", C), "unnamed group")
        self.refused(re_path(r"^a+/$", C), "repetition")
        self.refused(re_path(r"^a./$", C), "'.'")
        self.refused(re_path(r"^x/(?P<n>\d+)/", C), "no '$'")

    def test_no_websocket_application(self):
        with self.assertRaises(RoutingError) as caught:
            server_routes(ProtocolTypeRouter({"http": C.as_asgi()}))
        self.assertIn("no 'websocket'", str(caught.exception))

    def test_a_consumer_instance(self):
        with self.assertRaises(TypeError) as caught:
            URLRouter([path("ncdev/", C())])
        self.assertIn("C.as_asgi()", str(caught.exception))

    def test_an_unknown_application(self):
        with self.assertRaises(RoutingError) as caught:
            server_routes(URLRouter([path("x/", lambda scope, receive, send: None)]))
        self.assertIn("cannot see into", str(caught.exception))


if __name__ == "__main__":
    unittest.main()

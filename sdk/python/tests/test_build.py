"""wasmsock_build.py: the manifest it writes from routing.py and
plugin.toml, and the folders it refuses (it does not run componentize-py)."""

import os
import subprocess
import sys
import tempfile
import unittest

BUILD = os.path.join(os.path.dirname(__file__), "..", "wasmsock_build.py")

CONSUMERS = """from channels.generic.websocket import WebsocketConsumer


class Echo(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data=text_data)
"""


class Build(unittest.TestCase):
    def run_build(self, files):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            os.makedirs(src)
            for name, text in files.items():
                path = os.path.join(src, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            out = os.path.join(tmp, "out.toml")
            work = os.path.join(tmp, "work")
            os.makedirs(work)
            result = subprocess.run(
                [sys.executable, "-B", BUILD, "--src", src, "--name", "app", "--work", work, "--manifest", out],
                capture_output=True,
                text=True,
            )
            manifest = None
            if os.path.exists(out):
                with open(out, encoding="utf-8") as f:
                    manifest = f.read()
            left = sorted(os.listdir(src))
            return result, manifest, left

    def test_routes_and_settings(self):
        result, manifest, left = self.run_build(
            {
                "consumers.py": CONSUMERS,
                "routing.py": "from django.urls import path\nfrom consumers import Echo\n"
                "websocket_urlpatterns = [path('ws/<str:room>/', Echo.as_asgi())]\n",
                "plugin.toml": "call_timeout_ms = 500\n\n[config]\nk = \"v\"\n",
            }
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('routes = ["/ws/{room}/"]\n', manifest)
        self.assertLess(manifest.index("routes ="), manifest.index("[config]"))
        self.assertIn("call_timeout_ms = 500", manifest)
        self.assertNotIn("__pycache__", left, "nothing is written beside the sources")

    def test_one_consumer_without_routing(self):
        result, manifest, _ = self.run_build({"consumers.py": CONSUMERS})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIsNone(manifest)
        self.assertIn("served on /app", result.stderr)

    def test_the_tutorials_package_layout(self):
        result, manifest, _ = self.run_build(
            {
                "chat/__init__.py": "",
                "chat/consumers.py": CONSUMERS,
                "chat/routing.py": "from django.urls import re_path\nfrom . import consumers\n"
                "websocket_urlpatterns = [re_path(r'ws/chat/(?P<room_name>\\w+)/$', consumers.Echo.as_asgi())]\n",
            }
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn('routes = ["/ws/chat/{room_name}/"]', manifest)

    def test_refusals(self):
        cases = [
            ({}, "no routing.py and no consumers.py"),
            ({"consumers.py": CONSUMERS + "\nclass Other(Echo):\n    pass\n"}, "exactly one consumer class"),
            ({"consumers.py": CONSUMERS, "routing.py": "x = 1\n"}, "neither `application` nor `websocket_urlpatterns`"),
            (
                {
                    "consumers.py": CONSUMERS,
                    "routing.py": "from django.urls import path\nfrom consumers import Echo\n"
                    "websocket_urlpatterns = [path('f/<path:p>', Echo)]\n",
                },
                "'p' can match '/'",
            ),
            (
                {
                    "consumers.py": CONSUMERS,
                    "routing.py": "from django.urls import path\nfrom consumers import Echo\n"
                    "websocket_urlpatterns = [path('x/', Echo)]\n",
                    "plugin.toml": "routes = [\"/y\"]\n",
                },
                "sets routes, and routing.py routes too",
            ),
            ({"consumers.py": "import not_a_module\n", "routing.py": "import consumers\n"}, "importing routing.py failed"),
        ]
        for files, expect in cases:
            result, _, _ = self.run_build(files)
            self.assertEqual(result.returncode, 1, (files, result.stderr))
            self.assertIn(expect, result.stderr, files)


if __name__ == "__main__":
    unittest.main()

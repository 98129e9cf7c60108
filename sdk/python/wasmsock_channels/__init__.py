"""wasmsock's runtime for Channels consumers.

- ``plugin``: the WIT ``handler`` export and the host's imports (inside the
  plugin only);
- ``runtime``: one consumer per connection, ``base_send``, failures kept to
  their connection, the channel layer's host side;
- ``aio``: async consumers' coroutines run to completion in one call;
- ``scope``: the Channels scope from the host's;
- ``urls``: Django's ``path``/``re_path`` patterns;
- ``app`` and ``routes``: finding the plugin's application and the
  server's routes for it (used by ``wasmsock_build.py`` and the plugin).
"""

from .aio import UnsupportedWait  # noqa: F401

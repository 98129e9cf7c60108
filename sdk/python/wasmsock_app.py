"""The module componentize-py builds a Channels plugin from: it exports the
``handler`` and ``event-handler`` the wasmsock server calls
(``wasmsock_channels.plugin``), which serve the consumers of the plugin's
``routing.py`` or ``consumers.py``."""

from wasmsock_channels.plugin import EventHandler, Handler  # noqa: F401

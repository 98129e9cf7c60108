"""The module componentize-py builds a Channels plugin from: it exports the
``handler`` the wasmsock server calls (``wasmsock_channels.plugin``), which
serves the consumers of the plugin's ``routing.py`` or ``consumers.py``."""

from wasmsock_channels.plugin import Handler  # noqa: F401

"""Django Channels' consumer API on wasmsock.

This package is not Django Channels: it is wasmsock's implementation of the
parts of Channels 4 a WebSocket consumer module touches, under Channels'
own import paths, so that a ``consumers.py`` and a ``routing.py`` written for
Channels build into a wasmsock plugin unchanged. ``docs/python.md`` in the
wasmsock repository lists what is supported and what is not.
"""

# The Channels release whose consumer semantics this package follows.
__version__ = "4.0.0"

DEFAULT_CHANNEL_LAYER = "default"

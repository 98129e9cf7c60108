"""The channel layer, as ``channels.layers``: one layer, ``"default"``,
backed by the wasmsock host. There is nothing to configure: there are no
Django settings, and the layer's reach (one server; groups span every
instance and shard of the plugin) is the host's.

- ``group_add(group, channel)`` / ``group_discard(group, channel)`` put a
  connection served by this plugin in a group or take it out (the host's
  ``groups`` interface; a connection leaves every group when it closes);
- ``group_send(group, event)`` and ``send(channel, event)`` deliver an
  event (a dict with a ``type``) to consumers, which handle it with the
  method named after the type (``chat.message`` → ``chat_message``);
- ``self.channel_name`` is the connection's address on the host, valid on
  every host of a cluster.

Every method is a coroutine, as in Channels: ``await`` it in async
consumers, wrap it in ``async_to_sync`` in sync ones. Each completes at once
(it is a host call), so ``async_to_sync`` never blocks.
"""

import re

from . import DEFAULT_CHANNEL_LAYER
from .exceptions import InvalidChannelLayerError

__all__ = ["BaseChannelLayer", "WasmsockChannelLayer", "get_channel_layer", "channel_layers"]


class BaseChannelLayer:
    """The validation every Channels layer shares."""

    MAX_NAME_LENGTH = 100
    extensions = []

    # Channels' own rule for group and channel names. The host also takes
    # ':' in group names, which Channels does not.
    _name_re = re.compile(r"^[a-zA-Z\d\-_.]+$")

    def valid_group_name(self, name):
        if not isinstance(name, str) or len(name) >= self.MAX_NAME_LENGTH or not self._name_re.match(name):
            raise TypeError(
                "Group name must be a valid unicode string with length < "
                f"{self.MAX_NAME_LENGTH} containing only ASCII alphanumerics, hyphens, "
                f"underscores, or periods, not {name!r}"
            )
        return True

    def valid_channel_name(self, name):
        if not isinstance(name, str) or not name:
            raise TypeError(f"Channel name must be a non-empty string, not {name!r}")
        return True


class WasmsockChannelLayer(BaseChannelLayer):
    """The layer every consumer's ``self.channel_layer`` is."""

    extensions = ["groups"]

    def __init__(self, alias=DEFAULT_CHANNEL_LAYER):
        self.alias = alias

    @staticmethod
    def _runtime():
        # Imported here, not at the top: this module is also imported by
        # the build (outside wasm) to read routing.py, where there is no
        # host. Inside a plugin the runtime is imported when it is built, so
        # this import is a dictionary lookup.
        from wasmsock_channels import runtime

        return runtime.current()

    async def group_add(self, group, channel):
        """Add the connection whose ``channel_name`` is ``channel`` to
        ``group``. Only connections this plugin serves can be added: in
        practice, ``self.channel_name``."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._runtime().group_add(group, channel)

    async def group_discard(self, group, channel):
        """Take the connection out of ``group``; no error if it is not in it."""
        self.valid_group_name(group)
        self.valid_channel_name(channel)
        self._runtime().group_discard(group, channel)

    async def group_send(self, group, message):
        """Deliver ``message`` (a dict with a ``type``) to every consumer in
        ``group``, the sender's own included, as Channels does."""
        self.valid_group_name(group)
        _check_event(message)
        self._runtime().group_send(group, message)

    async def send(self, channel, message):
        """Deliver ``message`` to the one consumer whose ``channel_name`` is
        ``channel``."""
        self.valid_channel_name(channel)
        _check_event(message)
        self._runtime().send_event(channel, message)

    async def new_channel(self, prefix="specific."):
        raise NotImplementedError(
            "channel_layer.new_channel: a wasmsock consumer's channel is its "
            "connection's address, self.channel_name; there are no other channels"
        )

    async def receive(self, channel):
        raise NotImplementedError(
            "channel_layer.receive: a wasmsock consumer cannot wait for a message; "
            "events reach it as calls to the handler named after their type"
        )

    async def flush(self):
        raise NotImplementedError(
            "channel_layer.flush: the wasmsock layer belongs to the server; it cannot be flushed"
        )


def _check_event(message):
    if not isinstance(message, dict):
        raise TypeError(f"A channel layer message must be a dict, not {type(message).__name__}")
    if not isinstance(message.get("type"), str):
        raise TypeError("A channel layer message needs a 'type' key naming its handler")


channel_layers = {DEFAULT_CHANNEL_LAYER: WasmsockChannelLayer()}


def get_channel_layer(alias=DEFAULT_CHANNEL_LAYER):
    """The channel layer (there is one: ``"default"``)."""
    try:
        return channel_layers[alias]
    except KeyError:
        raise InvalidChannelLayerError(
            f"No channel layer {alias!r}: a wasmsock plugin has one layer, {DEFAULT_CHANNEL_LAYER!r}"
        )

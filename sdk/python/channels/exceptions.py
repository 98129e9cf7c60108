"""The exceptions of ``channels.exceptions`` that a consumer raises or
catches. They mean what they mean in Channels 4."""


class RequestAborted(Exception):
    """Raised when the incoming request tells us it's aborted partway through
    reading the body."""


class RequestTimeout(RequestAborted):
    """Aborted specifically due to timeout."""


class InvalidChannelLayerError(ValueError):
    """Raised when a channel layer is configured incorrectly."""


class AcceptConnection(Exception):
    """Raised in ``connect()`` to accept the connection."""


class DenyConnection(Exception):
    """Raised in ``connect()`` to refuse the connection (403)."""


class ChannelFull(Exception):
    """Raised when a channel cannot be sent to as it is over capacity."""


class MessageTooLarge(Exception):
    """Raised when a message cannot be sent as it is too big: over the
    server's ``max_message_size``."""


class StopConsumer(Exception):
    """Raised when a consumer wants to stop and close down its application
    instance (``websocket_disconnect`` raises it after ``disconnect()``)."""

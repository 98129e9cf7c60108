"""Origin checks (``channels.security.websocket``)."""

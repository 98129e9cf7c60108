"""Generic consumers: ``channels.generic.websocket``."""

"""The part of asgiref that consumers import: ``asgiref.sync``."""

__version__ = "3.8.1"

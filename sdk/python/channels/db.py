"""``channels.db``: ``database_sync_to_async``.

In Channels it runs a function in a thread and closes Django's stale
database connections around it. A wasmsock plugin has no Django ORM and no
database, so it is ``sync_to_async``: a consumer that wraps its own helpers
with it keeps working; one that queries Django models cannot be built
(their modules do not import here)."""

from asgiref.sync import SyncToAsync

__all__ = ["database_sync_to_async", "aclose_old_connections"]


class DatabaseSyncToAsync(SyncToAsync):
    """``SyncToAsync``: there are no database connections to close."""


database_sync_to_async = DatabaseSyncToAsync


async def aclose_old_connections():
    """Nothing to close: there is no database."""

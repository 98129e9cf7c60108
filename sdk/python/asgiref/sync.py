"""``async_to_sync`` and ``sync_to_async``, as consumers use them.

In asgiref these move work between an event loop and threads. A wasmsock
plugin has neither: each call into it runs to completion on one thread. So
here both are plain calls:

- ``async_to_sync(f)(*args)`` calls ``f`` and, when that gives a coroutine,
  drives it to completion at once (``async_to_sync(self.channel_layer.
  group_add)(group, self.channel_name)`` in a sync consumer);
- ``sync_to_async(f)`` gives a coroutine function that calls ``f`` when
  awaited (``await sync_to_async(compute)(x)`` in an async consumer).

A coroutine that really waits (``asyncio.sleep(1)``, tasks, futures) raises
``wasmsock_channels.aio.UnsupportedWait`` saying so. Unlike asgiref,
``async_to_sync`` may be called from async code too: nothing is blocked by
it, because nothing else could have run meanwhile.
"""

import functools
import inspect

from wasmsock_channels import aio

__all__ = [
    "AsyncToSync",
    "SyncToAsync",
    "async_to_sync",
    "sync_to_async",
    "iscoroutinefunction",
    "markcoroutinefunction",
]


class AsyncToSync:
    """A sync callable running the async callable ``awaitable`` to completion."""

    def __init__(self, awaitable, force_new_loop=False):
        if not callable(awaitable):
            raise TypeError("async_to_sync can only be applied to callables")
        self.awaitable = awaitable
        functools.update_wrapper(self, awaitable, updated=())

    def __call__(self, *args, **kwargs):
        result = self.awaitable(*args, **kwargs)
        if inspect.iscoroutine(result):
            return aio.run(result)
        if inspect.isawaitable(result):
            return aio.run(_await(result))
        return result

    def __get__(self, parent, objtype):
        # Bound like a method when used as a decorator in a class body.
        return functools.partial(self.__call__, parent)


class SyncToAsync:
    """An async callable that calls the sync callable ``func`` when awaited."""

    def __init__(self, func, thread_sensitive=True, executor=None, context=None):
        if not callable(func) or aio.is_async_callable(func):
            raise TypeError("sync_to_async can only be applied to sync functions.")
        self.func = func
        functools.update_wrapper(self, func, updated=())
        markcoroutinefunction(self)

    async def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)

    def __get__(self, parent, objtype):
        func = functools.partial(self.__call__, parent)
        return markcoroutinefunction(func)


async def _await(awaitable):
    return await awaitable


def async_to_sync(awaitable=None, *, force_new_loop=False):
    """Run an async callable from sync code: see the module's docstring.
    Usable as ``async_to_sync(f)`` and as the decorator ``@async_to_sync``."""
    if awaitable is None:
        return lambda f: AsyncToSync(f, force_new_loop=force_new_loop)
    return AsyncToSync(awaitable, force_new_loop=force_new_loop)


def sync_to_async(func=None, *, thread_sensitive=True, executor=None):
    """Await a sync callable from async code: see the module's docstring.
    ``thread_sensitive`` and ``executor`` are accepted and have no effect:
    there is one thread. Usable as ``sync_to_async(f)``, ``@sync_to_async``
    and ``@sync_to_async(thread_sensitive=False)``."""
    if func is None:
        return lambda f: SyncToAsync(f, thread_sensitive=thread_sensitive, executor=executor)
    return SyncToAsync(func, thread_sensitive=thread_sensitive, executor=executor)


def iscoroutinefunction(func):
    """Whether ``func`` is a coroutine function, or marked as one."""
    return inspect.iscoroutinefunction(func) or getattr(func, "_is_coroutine", None) is _MARKER


_MARKER = object()


def markcoroutinefunction(func):
    """Mark ``func`` (a callable returning a coroutine) as a coroutine
    function for :func:`iscoroutinefunction` and, on Python 3.12 and later,
    for ``inspect.iscoroutinefunction``."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        try:
            return mark(func)
        except (AttributeError, TypeError):
            pass
    try:
        func._is_coroutine = _MARKER
    except AttributeError:
        pass
    return func

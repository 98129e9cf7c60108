"""Running a consumer's coroutines to completion inside one plugin call.

A wasmsock plugin is called (connect, message, disconnect) and must return
before the host does anything else with its instance: there is no event
loop turning between calls, and no thread to wait on. So an async
consumer's coroutine is driven here, synchronously, until it finishes. The
host calls it awaits (``self.send``, ``self.accept``, the channel layer)
complete at once and never suspend it, so that works. What cannot work is a
real wait: ``await asyncio.sleep(1)``, a task, a future, a lock another
coroutine holds. Those raise :class:`UnsupportedWait` with a message that
says so, instead of Python's bare "no running event loop".
"""

import asyncio
import asyncio.events
import inspect

__all__ = ["UnsupportedWait", "run", "is_async_callable"]

_WHY = (
    "wasmsock runs a consumer's coroutine to completion inside one call: the "
    "host calls it awaits (send, accept, close, the channel layer) finish at "
    "once, but nothing can wait for time, I/O, tasks or futures, because no "
    "event loop turns between calls. Do the work without waiting (or let the "
    "client send a message when it is time)"
)


class UnsupportedWait(RuntimeError):
    """A consumer's coroutine tried to wait for something (``asyncio.sleep``
    with a delay, a task, a future, a timeout), which a plugin call cannot."""


class _NoWaitLoop:
    """Set as asyncio's running loop while a coroutine is driven, so that
    ``asyncio.sleep(1)``, ``create_task``, ``wait_for`` and the like fail with
    :class:`UnsupportedWait` naming what they asked for, rather than with
    "no running event loop", which would suggest a loop could be started."""

    def __getattr__(self, name):
        def unsupported(*args, **kwargs):
            raise UnsupportedWait(
                "a consumer's coroutine asked asyncio's event loop for "
                f"loop.{name}() (asyncio.sleep with a delay, create_task, "
                f"gather, wait_for, Event, Queue and futures do): {_WHY}"
            )

        return unsupported

    def is_running(self):
        return True

    def is_closed(self):
        return False

    def get_debug(self):
        return False


_LOOP = _NoWaitLoop()


def run(coro):
    """Drive ``coro`` until it returns and give its result.

    A bare ``yield`` (``await asyncio.sleep(0)``) only asks to let others
    run: there are none, so it goes on at once. Anything else it yields is
    something to wait for; :class:`UnsupportedWait` is thrown in at the
    ``await`` that asked, so the traceback points at the consumer's line.
    """
    previous = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(_LOOP)
    try:
        value = None
        error = None
        while True:
            try:
                if error is not None:
                    yielded = coro.throw(error)
                    error = None
                else:
                    yielded = coro.send(value)
            except StopIteration as stop:
                return stop.value
            value = None
            if yielded is not None:
                error = UnsupportedWait(
                    f"a consumer's coroutine awaited {yielded!r}, which waits "
                    f"for something to happen: {_WHY}"
                )
    finally:
        asyncio.events._set_running_loop(previous)


def is_async_callable(fn):
    """Whether calling ``fn`` gives a coroutine (functions, methods and
    ``functools.partial`` of them, and objects whose ``__call__`` is one)."""
    while hasattr(fn, "func") and hasattr(fn, "args"):  # functools.partial
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)

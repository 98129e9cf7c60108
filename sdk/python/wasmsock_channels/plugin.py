"""The WIT side: the ``handler`` and ``event-handler`` exports wasmsock
calls (world ``channel-consumer``), and the host's imports wrapped for
``runtime``. Imported when componentize-py builds the
plugin, which runs the plugin's module-level code then and keeps the
result: the consumers and routing are imported, and their import errors
fail the build rather than the first connection.

Only modules imported while building are in the plugin: it has no file
system to import from later. That is why everything is imported at the top
here, and why a consumer module should import what it needs at its top.
"""

import linecache
import os
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import channel, connection, groups, identity, log, types

import _wasmsock_plugin as _config

from . import runtime as _runtime
from .app import load_application

# Line-buffered, so that each print() reaches the server's log as it is
# written, even if the instance is stopped (deadline, trap) right after.
try:
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
except (AttributeError, ValueError):
    pass

_LEVELS = {
    "debug": types.Level.DEBUG,
    "info": types.Level.INFO,
    "warn": types.Level.WARN,
    "error": types.Level.ERROR,
}

# WIT error cases → HostError kinds (runtime.HostError).
_ERRORS = {
    types.Error_UnknownConnection: "unknown-connection",
    types.Error_Closed: "closed",
    types.Error_TooLarge: "too-large",
    types.Error_InvalidClose: "invalid-close",
    types.Error_QueueFull: "queue-full",
    groups.GroupError_InvalidName: "invalid-name",
    groups.GroupError_UnknownConnection: "unknown-connection",
    groups.GroupError_TooLarge: "too-large",
    groups.GroupError_TooManyGroups: "too-many-groups",
    channel.ChannelError_InvalidName: "invalid-name",
    channel.ChannelError_InvalidAddress: "invalid-address",
    channel.ChannelError_TooLarge: "too-large",
    channel.ChannelError_NoEventHandler: "no-event-handler",
}


def _host_error(err):
    value = err.value
    return _runtime.HostError(_ERRORS.get(type(value), repr(value)), getattr(value, "value", None))


class _Host:
    """The host's imports, as ``runtime`` wants them."""

    @staticmethod
    def send(conn, payload):
        message = types.Message_Text(payload) if isinstance(payload, str) else types.Message_Binary(payload)
        try:
            connection.send(conn, message)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def close(conn, code, reason):
        try:
            connection.close(conn, code, reason)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def join(conn, group):
        try:
            groups.join(conn, group)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def leave(conn, group):
        try:
            groups.leave(conn, group)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def address(conn):
        try:
            return groups.address(conn)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def group_send(group, text):
        try:
            channel.group_send(group, types.Message_Text(text), None)
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def send_event(address, text):
        # False means the connection is gone: as a Channels layer does with
        # a message for a channel nobody reads, it is dropped.
        try:
            channel.send(address, types.Message_Text(text))
        except Err as e:
            raise _host_error(e) from None

    @staticmethod
    def log(level, text):
        log.log(_LEVELS[level], text)


RUNTIME = _runtime.install(_runtime.Runtime(_Host(), load_application(_config.KIND, _config.MODULE)))


def _keep_sources():
    """Tracebacks quote each frame's source line, read from its file; a
    plugin has no files when it runs. So the lines of the plugin's own
    modules and the SDK's (not the standard library's) are read now, while
    building, into linecache. An entry without an mtime is one linecache
    never checks against the file."""
    stdlib = os.path.dirname(os.__file__)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py") or path.startswith(stdlib):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except (OSError, UnicodeDecodeError):
            continue
        linecache.cache[path] = (sum(len(line) for line in lines), None, lines, path)


_keep_sources()


def _flush():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass


def _sdk_failed(what, error):
    # The runtime keeps consumers' failures to their connection; this is
    # for a failure of the SDK itself, which must not stop the instance
    # (and every connection it serves) either.
    RUNTIME.report_failure(f"the Channels SDK, in {what},", error, "going on")


class Handler(exports.Handler):
    """The ``handler`` export: each callback goes to the runtime."""

    def on_connect(self, conn, scope):
        try:
            try:
                who = identity.get(conn)
                who = (who.subject, who.claims, who.values)
            except Err:
                who = None
            accepted = RUNTIME.on_connect(
                conn,
                scope.path,
                scope.query,
                scope.headers,
                scope.cookies,
                scope.subprotocols,
                scope.remote_addr,
                scope.params,
                who,
            )
        except _runtime.Refuse as r:
            raise Err(types.Reject(status=r.status, headers=[], body=r.body))
        except Exception as e:
            _sdk_failed("on-connect", e)
            raise Err(types.Reject(status=500, headers=[], body=""))
        finally:
            _flush()
        return types.Accept(subprotocol=accepted.subprotocol, headers=accepted.headers)

    def on_message(self, conn, message):
        try:
            RUNTIME.on_message(conn, message.value)
        except Exception as e:
            _sdk_failed("on-message", e)
        finally:
            _flush()

    def on_disconnect(self, conn, info):
        try:
            RUNTIME.on_disconnect(conn, info.code, info.reason)
        except Exception as e:
            _sdk_failed("on-disconnect", e)
        finally:
            _flush()


class EventHandler(exports.EventHandler):
    """The ``event-handler`` export: channel layer events to consumers."""

    def on_event(self, conn, group, event):
        try:
            RUNTIME.on_event(conn, event.value)
        except Exception as e:
            _sdk_failed("on-event", e)
        finally:
            _flush()

    def on_gap(self, conn, group, lost):
        try:
            RUNTIME.on_gap(conn, group, lost)
        except Exception as e:
            _sdk_failed("on-gap", e)
        finally:
            _flush()

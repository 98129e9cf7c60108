"""echo-python: a wasmsock plugin. It accepts every connection, sends every
message back unchanged (text stays text, binary stays binary) and logs each
disconnect with its close code. Change the three callbacks below."""

from wit_world import exports
from wit_world.imports import connection, log, types
from componentize_py_types import Err


class Handler(exports.Handler):
    def on_connect(self, conn: int, scope: types.Scope) -> types.Accept:
        # Runs before the HTTP upgrade; raise Err(types.Reject(...)) to refuse.
        return types.Accept(subprotocol=None, headers=[])

    def on_message(self, conn: int, message: types.Message) -> None:
        try:
            connection.send(conn, message)
        except Err as e:
            log.log(types.Level.WARN, f"echo to {conn} failed: {e.value}")

    def on_disconnect(self, conn: int, info: types.CloseInfo) -> None:
        log.log(
            types.Level.INFO,
            f"disconnect {conn}: code {info.code} reason {info.reason!r}",
        )

// Echo consumer in C (bindings from `wasmsock-componentize bindgen-c`):
// accepts every connection, sends every message back unchanged (text stays
// text, binary stays binary) and logs each disconnect with its close code.
#include <inttypes.h>
#include <stdio.h>

#include "consumer.h"

static void log_line(wasmsock_plugin_log_level_t level, const char *line) {
  consumer_string_t s;
  consumer_string_set(&s, line);
  wasmsock_plugin_log_log(level, &s);
}

bool exports_wasmsock_plugin_handler_on_connect(
    exports_wasmsock_plugin_handler_connection_id_t conn,
    exports_wasmsock_plugin_handler_scope_t *scope,
    exports_wasmsock_plugin_handler_accept_t *ret,
    exports_wasmsock_plugin_handler_reject_t *err) {
  (void)conn;
  (void)err;
  exports_wasmsock_plugin_handler_scope_free(scope);
  ret->subprotocol.is_some = false;
  ret->headers.ptr = NULL;
  ret->headers.len = 0;
  return true;
}

void exports_wasmsock_plugin_handler_on_message(
    exports_wasmsock_plugin_handler_connection_id_t conn,
    exports_wasmsock_plugin_handler_message_t *message) {
  wasmsock_plugin_connection_error_t err;
  if (!wasmsock_plugin_connection_send(conn, message, &err)) {
    char line[80];
    snprintf(line, sizeof line, "echo to %" PRIu64 " failed: error %u", conn,
             (unsigned)err.tag);
    log_line(WASMSOCK_PLUGIN_TYPES_LEVEL_WARN, line);
  }
  exports_wasmsock_plugin_handler_message_free(message);
}

void exports_wasmsock_plugin_handler_on_disconnect(
    exports_wasmsock_plugin_handler_connection_id_t conn,
    exports_wasmsock_plugin_handler_close_info_t *info) {
  char line[200];
  snprintf(line, sizeof line, "disconnect %" PRIu64 ": code %u reason \"%.*s\"",
           conn, (unsigned)info->code, (int)info->reason.len,
           (const char *)info->reason.ptr);
  log_line(WASMSOCK_PLUGIN_TYPES_LEVEL_INFO, line);
  exports_wasmsock_plugin_handler_close_info_free(info);
}

// Echo consumer in AssemblyScript: accepts every connection, sends every
// message back unchanged (text stays text, binary stays binary) and logs
// each disconnect with its close code.
//
// Written against the component model's canonical ABI directly. AS cannot
// spell export names like "wasmsock:plugin/handler@0.1.0#on-connect", so
// the build renames on_connect & co. while wrapping the module
// (`wasmsock-componentize component --rename-export`).

@external("wasmsock:plugin/connection@0.1.0", "send")
declare function send(conn: u64, tag: u32, ptr: usize, len: usize, result: usize): void;

@external("wasmsock:plugin/log@0.1.0", "log")
declare function log_line(level: u32, ptr: usize, len: usize): void;

const LEVEL_INFO: u32 = 2;
const LEVEL_WARN: u32 = 3;

function log(level: u32, line: string): void {
  const utf8 = String.UTF8.encode(line);
  log_line(level, changetype<usize>(utf8), utf8.byteLength);
}

// Built with the stub runtime: a bump allocator that `heap.reset()` empties.
// Arguments the host copies in and the strings built here are gone once each
// callback returns.
export function cabi_realloc(old: usize, oldSize: usize, align: usize, newSize: usize): usize {
  // heap.alloc aligns to 16 bytes, enough for every type of the world.
  const ptr = heap.alloc(newSize);
  if (old) memory.copy(ptr, old, min(oldSize, newSize));
  return ptr;
}

// on-connect's result<accept, reject> is returned in memory: all zeros is
// ok(accept { subprotocol: none, headers: [] }).
const connectResult = memory.data(24, 4);
// send's result<_, error>: a tag byte, then the error variant at offset 8.
const sendResult = memory.data(24, 8);

export function on_connect(args: usize): usize {
  memory.fill(connectResult, 0, 24);
  heap.reset();
  return connectResult;
}

export function on_message(conn: u64, tag: u32, ptr: usize, len: usize): void {
  send(conn, tag, ptr, len, sendResult);
  if (load<u8>(sendResult) != 0) {
    log(LEVEL_WARN, `echo to ${conn} failed: error ${load<u8>(sendResult, 8)}`);
  }
  heap.reset();
}

export function on_disconnect(conn: u64, code: u32, reason: usize, reasonLen: usize, byClient: u32): void {
  const text = String.UTF8.decodeUnsafe(reason, reasonLen);
  log(LEVEL_INFO, `disconnect ${conn}: code ${code} reason "${text}"`);
  heap.reset();
}

// A failed assertion traps; there is no host `abort` to call.
export function abort(message: string | null, file: string | null, line: u32, column: u32): void {
  unreachable();
}

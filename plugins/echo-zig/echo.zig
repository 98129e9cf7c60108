//! Echo consumer in Zig: accepts every connection, sends every message back
//! unchanged (text stays text, binary stays binary) and logs each disconnect
//! with its close code.
//!
//! Built for wasm32-freestanding (no WASI at all) and written against the
//! component model's canonical ABI directly; `wasmsock-componentize
//! component` then embeds the consumer world and wraps the module.
const std = @import("std");

extern "wasmsock:plugin/connection@0.1.0" fn send(conn: u64, tag: u32, ptr: [*]const u8, len: usize, result: *SendResult) void;
extern "wasmsock:plugin/log@0.1.0" fn log(level: u32, ptr: [*]const u8, len: usize) void;

const level_info = 2;
const level_warn = 3;

/// send's result<_, error>: a tag byte, then the error variant at offset 8.
const SendResult = extern struct { is_err: u8, err_tag: u8 align(8), too_large: u64 };

// Arguments the host copies in (cabi_realloc) live in a bump arena above
// the module's data and stack, grown page by page and emptied when each
// export returns.
extern var __heap_base: u8;
var bump: usize = 0;

fn reset() void {
    bump = @intFromPtr(&__heap_base);
}

export fn cabi_realloc(old: ?[*]u8, old_size: usize, alignment: usize, new_size: usize) [*]u8 {
    if (bump == 0) reset();
    const start = std.mem.alignForward(usize, bump, alignment);
    const end = start + new_size;
    const have = @wasmMemorySize(0) * std.wasm.page_size;
    if (end > have) {
        const pages = (end - have + std.wasm.page_size - 1) / std.wasm.page_size;
        if (@wasmMemoryGrow(0, pages) < 0) @trap();
    }
    const ptr: [*]u8 = @ptrFromInt(start);
    if (old) |o| @memcpy(ptr[0..@min(old_size, new_size)], o[0..@min(old_size, new_size)]);
    bump = end;
    return ptr;
}

/// on-connect's result<accept, reject> is returned in memory: all zeros is
/// ok(accept { subprotocol: none, headers: [] }).
var connect_result: [6]u32 = undefined;

fn onConnect(args: [*]const u8) callconv(.c) *[6]u32 {
    _ = args;
    connect_result = .{ 0, 0, 0, 0, 0, 0 };
    reset();
    return &connect_result;
}

fn onMessage(conn: u64, tag: u32, ptr: [*]const u8, len: usize) callconv(.c) void {
    var result: SendResult = undefined;
    send(conn, tag, ptr, len, &result);
    if (result.is_err != 0) {
        var buf: [64]u8 = undefined;
        const line = std.fmt.bufPrint(&buf, "echo to {d} failed: error {d}", .{ conn, result.err_tag }) catch unreachable;
        log(level_warn, line.ptr, line.len);
    }
    reset();
}

fn onDisconnect(conn: u64, code: u32, reason: [*]const u8, reason_len: usize, by_client: u32) callconv(.c) void {
    _ = by_client;
    var buf: [256]u8 = undefined;
    const line = std.fmt.bufPrint(&buf, "disconnect {d}: code {d} reason \"{s}\"", .{ conn, code, reason[0..reason_len] }) catch unreachable;
    log(level_info, line.ptr, line.len);
    reset();
}

comptime {
    @export(&onConnect, .{ .name = "wasmsock:plugin/handler@0.1.0#on-connect" });
    @export(&onMessage, .{ .name = "wasmsock:plugin/handler@0.1.0#on-message" });
    @export(&onDisconnect, .{ .name = "wasmsock:plugin/handler@0.1.0#on-disconnect" });
}

// Echo consumer in Go: accepts every connection, sends every message back
// unchanged (text stays text, binary stays binary) and logs each disconnect
// with its close code.
//
// There is no WIT binding generator for Go here, so the few functions of
// the consumer world are written against the component model's canonical
// ABI directly (//go:wasmimport, //go:wasmexport); `wasmsock-componentize
// component` then embeds the world and wraps the module.
package main

import (
	"strconv"
	"unsafe"
)

func main() {}

//go:wasmimport wasmsock:plugin/connection@0.1.0 send
func send(conn uint64, tag, ptr, length uint32, result unsafe.Pointer)

//go:wasmimport wasmsock:plugin/log@0.1.0 log
func logLine(level uint32, ptr unsafe.Pointer, length uint32)

const (
	levelInfo = 2
	levelWarn = 3
)

func log(level uint32, line string) {
	logLine(level, unsafe.Pointer(unsafe.StringData(line)), uint32(len(line)))
}

// The host copies arguments in through cabi_realloc before each call. That
// memory must not come from the Go heap (the collector knows nothing of it,
// and allocating there from an export called before the one that uses it
// breaks the runtime), so it comes from a static arena emptied when each
// export returns. It holds one message of the server's default maximum
// size (16 MiB) plus room for the handshake's scope.
var arena [16<<20 + 256<<10]byte
var used uintptr

//go:wasmexport cabi_realloc
func cabiRealloc(old, oldSize, align, newSize uint32) uint32 {
	base := uintptr(unsafe.Pointer(&arena[0]))
	start := (base + used + uintptr(align) - 1) &^ (uintptr(align) - 1)
	end := start + uintptr(newSize)
	if end > base+uintptr(len(arena)) {
		panic("echo-go: arguments larger than the arena")
	}
	if old != 0 {
		n := min(oldSize, newSize)
		copy(arena[start-base:start-base+uintptr(n)], arena[uintptr(old)-base:uintptr(old)-base+uintptr(n)])
	}
	used = end - base
	return uint32(start)
}

// on-connect's result, result<accept, reject>, is returned in memory:
// all zeros is ok(accept { subprotocol: none, headers: [] }).
var connectResult [6]uint32

//go:wasmexport wasmsock:plugin/handler@0.1.0#on-connect
func onConnect(args uint32) uint32 {
	connectResult = [6]uint32{}
	used = 0
	return uint32(uintptr(unsafe.Pointer(&connectResult)))
}

// send's result<_, error>: a tag byte, then the error at offset 8.
var sendResult [3]uint64

//go:wasmexport wasmsock:plugin/handler@0.1.0#on-message
func onMessage(conn uint64, tag, ptr, length uint32) {
	send(conn, tag, ptr, length, unsafe.Pointer(&sendResult))
	if uint8(sendResult[0]) != 0 {
		log(levelWarn, "echo to "+strconv.FormatUint(conn, 10)+" failed: error "+
			strconv.Itoa(int(uint8(sendResult[1]))))
	}
	used = 0
}

//go:wasmexport wasmsock:plugin/handler@0.1.0#on-disconnect
func onDisconnect(conn uint64, code, reasonPtr, reasonLen, byClient uint32) {
	reason := unsafe.String((*byte)(unsafe.Pointer(uintptr(reasonPtr))), reasonLen)
	log(levelInfo, "disconnect "+strconv.FormatUint(conn, 10)+": code "+
		strconv.Itoa(int(code))+" reason "+strconv.Quote(reason))
	used = 0
}

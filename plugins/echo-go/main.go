// echo-go: a wasmsock plugin. It accepts every connection, sends every
// message back unchanged (text stays text, binary stays binary) and logs
// each disconnect with its close code.
//
// Go has no WIT binding generator usable here, so the imports and exports
// of the consumer world (wit/consumer.wit) are declared against the
// component model's canonical ABI by hand: //go:wasmimport and
// //go:wasmexport. build.sh then wraps the module into a component with
// `wasmsock-componentize component`.
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

// Levels of the WIT `level` enum, by position.
const (
	levelInfo = 2
	levelWarn = 3
)

func log(level uint32, line string) {
	logLine(level, unsafe.Pointer(unsafe.StringData(line)), uint32(len(line)))
}

// The host copies each callback's arguments in through cabi_realloc. That
// memory must not come from the Go heap (its collector does not know about
// it), so it comes from a static arena that is emptied when each callback
// returns: room for one message of the server's default maximum size
// (16 MiB) plus the handshake's scope. Raise it with max_message_size.
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
		n := uintptr(min(oldSize, newSize))
		from := uintptr(old) - base
		copy(arena[start-base:start-base+n], arena[from:from+n])
	}
	used = end - base
	return uint32(start)
}

// on-connect returns result<accept, reject> in memory; all zeros means
// ok(accept { subprotocol: none, headers: [] }).
var connectResult [6]uint32

//go:wasmexport wasmsock:plugin/handler@0.1.0#on-connect
func onConnect(args uint32) uint32 {
	connectResult = [6]uint32{}
	used = 0
	return uint32(uintptr(unsafe.Pointer(&connectResult)))
}

// send's result<_, error>: a tag byte, then the error's tag at offset 8.
var sendResult [3]uint64

// The message arrives as its variant tag (0 text, 1 binary) and its bytes;
// the same three values send it back.
//
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

package testclient

import (
	"runtime"
	"strconv"
	"strings"
)

// GoroutineID is the calling goroutine's ID, from the header of its stack
// trace ("goroutine N [running]:"). The tests that widen the server
// library's CONNECT window use it to tell whether the engine flushed the
// acknowledgement on the goroutine that registers the socket, the only
// case in which the window can be held open.
func GoroutineID() uint64 {
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	if len(f) < 2 {
		return 0
	}
	id, _ := strconv.ParseUint(f[1], 10, 64)
	return id
}

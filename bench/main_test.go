package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the driver's tests leave no goroutine behind (idle
// keep-alive connections of the HTTP clients aside).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
}

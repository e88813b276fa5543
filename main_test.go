package siojwt

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// IgnoreCurrent: the Go client's engine package starts a process-wide
	// network monitor when it is initialised, before any test runs.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

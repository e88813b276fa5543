package core

import (
	"testing"

	"go.uber.org/goleak"
)

// Key functions run on goroutines of their own: none may outlive a test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

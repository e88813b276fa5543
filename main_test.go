package siojwt

import (
	"testing"

	"github.com/siojwt/siojwt/internal/leakcheck"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakcheck.Options()...)
}

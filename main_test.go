package zohoquota

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the limiter
// and the transport promise to run none of their own once a call is over.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

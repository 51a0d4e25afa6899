package audit

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// log's writer and the shipper's loop are owned by their Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

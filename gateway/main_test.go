package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// closed gateway has stopped everything it started (listeners, reloaders,
// the audit log's and the shipper's loops, the index writer, the refusal
// auditor).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

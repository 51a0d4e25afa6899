package federation

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// component here owns what it starts and stops it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

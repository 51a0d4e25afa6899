package indextest

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/connectors/index"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestReference runs the suite against the reference implementation: the
// suite's hand-written expectations and the reference the property test
// trusts must agree.
func TestReference(t *testing.T) {
	Run(t, func(t *testing.T) index.Backend { return newReference() })
}

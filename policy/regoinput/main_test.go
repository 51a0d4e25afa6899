package regoinput_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The benchmarks build an engine, which decides on worker goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

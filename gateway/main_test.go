package gateway_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// closed gateway has stopped everything it started (listeners, reloaders,
// the audit log's and the shipper's loops, the index writer, the refusal
// auditor). It also reports how much traffic was checked against
// docs/openapi.yaml (gatewaytest validates every request and answer).
func TestMain(m *testing.M) {
	code := m.Run()
	s := gatewaytest.Stats()
	fmt.Fprintf(os.Stderr, "openapi: %d requests validated (%d invalid by the document, each refused with a 4xx), %d responses validated\n",
		s.Requests, s.InvalidRequests, s.Responses)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

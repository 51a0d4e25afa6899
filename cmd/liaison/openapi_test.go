package main

import (
	"fmt"
	"net/http"
	"os"
	"sync"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// The CLI's requests and the gateway's answers are checked against
// docs/openapi.yaml in these tests as the gateway's e2e tests check theirs:
// every client the CLI makes in this test binary goes through
// gatewaytest.ContractTransport. A mismatch cannot name the test (the
// client has none), so mismatches are collected and fail the binary in
// TestMain (contractFailures).
var contract struct {
	mu       sync.Mutex
	failures []string
}

func init() {
	wrapTransport = func(t http.RoundTripper) http.RoundTripper {
		return gatewaytest.ContractTransport(func(format string, args ...any) {
			contract.mu.Lock()
			defer contract.mu.Unlock()
			contract.failures = append(contract.failures, fmt.Sprintf(format, args...))
		}, t)
	}
}

// contractFailures reports the mismatches seen and whether there were any.
func contractFailures() bool {
	contract.mu.Lock()
	defer contract.mu.Unlock()
	for _, f := range contract.failures {
		fmt.Fprintln(os.Stderr, "FAIL (docs/openapi.yaml):", f)
	}
	s := gatewaytest.Stats()
	fmt.Fprintf(os.Stderr, "openapi: %d requests validated (%d invalid by the document, each refused with a 4xx), %d responses validated\n",
		s.Requests, s.InvalidRequests, s.Responses)
	return len(contract.failures) > 0
}

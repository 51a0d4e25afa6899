package console_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestPageScripts runs the node:test unit tests of the page's own modules
// (jstest/: the proof verifier against real proofs made by gateway/audit,
// the hash-route parser, the wording helpers). They need node only, no
// browser and no package: Node 20 has Web Crypto with Ed25519, as Chromium
// has. Under LIAISON_INTEGRATION=required a missing node fails.
func TestPageScripts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv(envIntegration) == "required" {
			t.Fatal("node is not on PATH: the page's unit tests (node --test jstest/) cannot run")
		}
		t.Skip("node is not on PATH")
	}
	cmd := exec.Command(node, "--test", "jstest/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test jstest/: %v\n%s", err, out)
	}
	t.Logf("node --test jstest/:\n%s", tail(out, 12))
}

// tail is the last n lines of b (node's summary).
func tail(b []byte, n int) []byte {
	for i := len(b) - 2; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

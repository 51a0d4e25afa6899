package console_test

// The console's browser tests: a real gateway (gatewaytest, in-process,
// with the console and the dev identity provider), a real Debian Chromium
// driven by playwright-core from node:test specs in e2e/. Go starts the
// gateway, seeds what the flows need through the API, runs
// `node --test` on the specs with the gateway's address and the agency's
// client certificate in the environment, and checks afterwards what the
// browser produced (the evidence pack it downloaded).
//
// Tools: LIAISON_TEST_CHROMIUM (the browser) and LIAISON_TEST_CONSOLE_E2E
// (gateway/console/e2e with node_modules installed by npm ci), both set by
// `make test` (deploy/devstack/devstack.sh install_browser). Missing tools
// skip the tests, or fail them under LIAISON_INTEGRATION=required.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// Environment of the browser tests, set by devstack.sh's tools_env.
const (
	envChromium    = "LIAISON_TEST_CHROMIUM"
	envE2E         = "LIAISON_TEST_CONSOLE_E2E"
	envIntegration = "LIAISON_INTEGRATION"
	// envScreenshots, when set, is where the specs write a 1280×800
	// screenshot of each main view (`make console-screenshots` sets it to
	// docs/console).
	envScreenshots = "LIAISON_CONSOLE_SCREENSHOTS"
)

// browserTools is what running the specs needs.
type browserTools struct {
	chromium string // the browser executable
	node     string // node 20+
	e2e      string // the specs' directory, with node_modules
}

// needBrowser returns the tools, or skips (fails under
// LIAISON_INTEGRATION=required) naming what is missing. -short skips:
// a browser per flow is minutes on 2 cores, and the race pass of
// `make test` (which runs -short) has nothing to race in Chromium.
func needBrowser(t *testing.T) browserTools {
	t.Helper()
	required := os.Getenv(envIntegration) == "required"
	if testing.Short() && !required {
		t.Skip("browser tests are not short")
	}
	var missing []string
	bt := browserTools{chromium: os.Getenv(envChromium), e2e: os.Getenv(envE2E)}
	if bt.chromium == "" {
		missing = append(missing, envChromium+" is not set")
	} else if st, err := os.Stat(bt.chromium); err != nil || st.IsDir() {
		missing = append(missing, envChromium+"="+bt.chromium+" is not a file")
	}
	if bt.e2e == "" {
		// The specs beside this file: the tools may be set up by hand.
		if abs, err := filepath.Abs("e2e"); err == nil {
			bt.e2e = abs
		}
	}
	if _, err := os.Stat(filepath.Join(bt.e2e, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core is not installed in "+bt.e2e+"/node_modules (npm ci there)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node is not on PATH")
	}
	bt.node = node
	if len(missing) > 0 {
		msg := "console browser tests need: " + strings.Join(missing, "; ") +
			" — run `make test`, or `bash deploy/devstack/devstack.sh browser` and export what it prints"
		if required {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bt
}

// specRun is one `node --test` run against one gateway.
type specRun struct {
	env     *gatewaytest.Env
	agency  string
	fixture any    // JSON for LIAISON_CONSOLE_FIXTURE (nil: {})
	out     string // LIAISON_CONSOLE_OUT: where specs leave files for Go
	extra   []string
}

// runSpecs runs the spec files (relative to e2e/) with node's test runner
// and fails the test with node's output if any spec fails. The specs run
// one file at a time: each starts its own Chromium, and two at once on
// 2 cores only make both slower and flakier.
func runSpecs(t *testing.T, bt browserTools, r specRun, files ...string) string {
	t.Helper()
	fix := []byte("{}")
	if r.fixture != nil {
		var err error
		if fix, err = json.Marshal(r.fixture); err != nil {
			t.Fatal(err)
		}
	}
	if r.out == "" {
		r.out = t.TempDir()
	}
	fed := r.env.Fed
	args := append([]string{"--test", "--test-concurrency=1", "--test-reporter=spec"}, files...)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bt.node, args...)
	cmd.Dir = bt.e2e
	cmd.Env = append(os.Environ(),
		"LIAISON_CONSOLE_URL="+r.env.URL,
		"LIAISON_CONSOLE_AGENCY="+r.agency,
		"LIAISON_CONSOLE_CLIENT_CERT="+fed.AgencyCertFile(r.agency),
		"LIAISON_CONSOLE_CLIENT_KEY="+fed.AgencyKeyFile(r.agency),
		"LIAISON_CONSOLE_CA="+fed.CAFile,
		// Playwright's client-certificate proxy (Node's TLS) verifies the
		// gateway's certificate against Node's roots plus these: the dev
		// CA is trusted, nothing is ignored on that leg.
		"NODE_EXTRA_CA_CERTS="+fed.CAFile,
		"LIAISON_TEST_CHROMIUM="+bt.chromium,
		"LIAISON_CONSOLE_FIXTURE="+string(fix),
		"LIAISON_CONSOLE_OUT="+r.out,
		// A private HOME and temp dir: Chromium writes its caches there.
		"HOME="+t.TempDir(),
	)
	cmd.Env = append(cmd.Env, r.extra...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	t.Logf("node --test %s (%s):\n%s", strings.Join(files, " "), time.Since(start).Round(time.Second), buf.String())
	if err != nil {
		t.Fatalf("specs failed: %v (node's output above)", err)
	}
	return buf.String()
}

// TestBrowserMutualTLS is the first thing the others rest on: Chromium,
// driven with playwright-core's clientCertificates, gets through the
// agency listener's mutual TLS with the agency's certificate, and does
// not without it. It needs nothing of the console (a /v1 call answers
// 401 problem+json without a token).
func TestBrowserMutualTLS(t *testing.T) {
	bt := needBrowser(t)
	e := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	runSpecs(t, bt, specRun{env: e, agency: e.Fed.Agencies[0]}, "mtls.test.mjs")
	// And the gateway's certificate is verified: without the dev CA the
	// proxy refuses it (the page gets Playwright's 503, not the gateway).
	runSpecs(t, bt, specRun{env: e, agency: e.Fed.Agencies[0], extra: []string{"NODE_EXTRA_CA_CERTS="}}, "mtls-untrusted.mjs")
}

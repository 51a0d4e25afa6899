package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the repository's top directory (this package is deploy/packaging).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// tool returns the path of a binary named by envVar (set by
// deploy/devstack/devstack.sh, which builds it into the devstack cache), or
// fallback when it is an absolute path that exists. Missing, the test is
// skipped — unless LIAISON_INTEGRATION=required (`make test`): then it fails.
func tool(t testing.TB, envVar, fallback string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	if fallback != "" {
		if p, err := exec.LookPath(fallback); err == nil {
			return p
		}
	}
	msg := envVar + " is not set: run `make test`, or `bash deploy/devstack/devstack.sh install` and export " + envVar
	if os.Getenv("LIAISON_INTEGRATION") == "required" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/buildinfo"
)

func TestVersion(t *testing.T) {
	bi := buildinfo.Get()
	want := versionLine(bi)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if strings.TrimSpace(out) != want {
			t.Errorf("%v printed %q, want %q", args, out, want)
		}
	}
	if !strings.Contains(want, runtime.Version()) || !strings.HasPrefix(want, "liaison "+bi.Version+" (commit "+bi.Commit) {
		t.Errorf("version line %q lacks the version, commit or Go version", want)
	}

	out, err := runCLI(t, "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got buildinfo.Info
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("version --json: %v in %q", err, out)
	}
	if got != bi || got.GoVersion != runtime.Version() || got.Version == "" || got.Commit == "" || got.Date == "" {
		t.Errorf("version --json = %+v, want %+v", got, bi)
	}

	if _, err := runCLI(t, "version", "extra"); err == nil {
		t.Error("version with an argument: no error")
	}
}

// Package buildinfo says which Liaison is running: module version, commit,
// build date and Go version. Operators need it to match a running gateway to
// a release (`liaison version`, the liaison_build_info metric, the image's
// labels) and auditors to say which code made a decision.
//
// The values come from the Go toolchain's own build information (module
// version, VCS revision and time when `go build` stamped them) and can be
// overridden at link time for builds outside a git checkout:
//
//	go build -ldflags "-X github.com/liaison-project/liaison/gateway/buildinfo.version=v1.2.3 \
//	  -X github.com/liaison-project/liaison/gateway/buildinfo.commit=abc123 \
//	  -X github.com/liaison-project/liaison/gateway/buildinfo.date=2026-12-06T00:00:00Z"
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by -ldflags -X; empty means "ask the toolchain's build information".
var (
	version string
	commit  string
	date    string
)

// Info describes one build. Unknown values are "unknown" rather than empty,
// so that a metric label or a version line is never blank.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	// Modified: the working tree had uncommitted changes when built.
	Modified bool `json:"modified,omitempty"`
}

var (
	once   sync.Once
	cached Info
)

// Get returns this binary's build information.
func Get() Info {
	once.Do(func() {
		cached = Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
		if bi, ok := debug.ReadBuildInfo(); ok {
			if cached.Version == "" && bi.Main.Version != "" {
				cached.Version = bi.Main.Version // "(devel)" for a local build
			}
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					if cached.Commit == "" {
						cached.Commit = s.Value
					}
				case "vcs.time":
					if cached.Date == "" {
						cached.Date = s.Value
					}
				case "vcs.modified":
					cached.Modified = s.Value == "true"
				}
			}
		}
		for _, p := range []*string{&cached.Version, &cached.Commit, &cached.Date} {
			if *p == "" {
				*p = "unknown"
			}
		}
	})
	return cached
}

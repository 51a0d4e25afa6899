package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// dockerfileFinal is what the Dockerfile's last stage states.
type dockerfileFinal struct {
	From, User, Workdir  string
	Entrypoint, Cmd      []string
	Expose, Volumes, Env []string
	Labels               map[string]string
	Copies               []string
}

var labelPair = regexp.MustCompile(`([A-Za-z0-9_.-]+)="([^"]*)"`)

// parseDockerfile reads the instructions this test compares; it is not a
// general Dockerfile parser (JSON-form ENTRYPOINT/CMD/VOLUME, quoted LABEL
// pairs), and fails on a form it does not know rather than guess.
func parseDockerfile(text string) (dockerfileFinal, error) {
	var f dockerfileFinal
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		jsonList := func() ([]string, error) {
			var l []string
			if err := json.Unmarshal([]byte(rest), &l); err != nil {
				return nil, fmt.Errorf("%s must be in JSON form: %q", instr, rest)
			}
			return l, nil
		}
		var err error
		switch strings.ToUpper(instr) {
		case "FROM":
			f = dockerfileFinal{From: rest, Labels: map[string]string{}}
		case "USER":
			f.User = rest
		case "WORKDIR":
			f.Workdir = rest
		case "ENTRYPOINT":
			f.Entrypoint, err = jsonList()
		case "CMD":
			f.Cmd, err = jsonList()
		case "VOLUME":
			f.Volumes, err = jsonList()
		case "EXPOSE":
			f.Expose = strings.Fields(rest)
		case "ENV":
			f.Env = append(f.Env, strings.Fields(rest)...)
		case "COPY":
			f.Copies = append(f.Copies, rest)
		case "LABEL":
			pairs := labelPair.FindAllStringSubmatch(rest, -1)
			if len(labelPair.ReplaceAllString(strings.Join(strings.Fields(rest), " "), "")) > len(pairs) {
				return f, fmt.Errorf("LABEL must be key=\"value\" pairs: %q", rest)
			}
			for _, p := range pairs {
				f.Labels[p[1]] = p[2]
			}
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// TestDockerfileMatchesBuilder: the Dockerfile and this builder describe
// one image. A change to either (user, entrypoint, command, ports, volume,
// labels) that the other lacks fails here.
func TestDockerfileMatchesBuilder(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "image", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseDockerfile(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.From != "scratch" {
		t.Errorf("final stage FROM %s, want scratch (the builder's empty base)", f.From)
	}
	if want := fmt.Sprintf("%d:%d", uid, gid); f.User != want {
		t.Errorf("USER %s, want %s", f.User, want)
	}
	if !slices.Equal(f.Entrypoint, entrypoint) || !slices.Equal(f.Cmd, cmd) {
		t.Errorf("ENTRYPOINT %v CMD %v, want %v %v", f.Entrypoint, f.Cmd, entrypoint, cmd)
	}
	if !slices.Equal(f.Expose, exposedPorts) {
		t.Errorf("EXPOSE %v, want %v", f.Expose, exposedPorts)
	}
	if !slices.Equal(f.Volumes, []string{"/var/lib/liaison"}) || f.Workdir != "/var/lib/liaison" {
		t.Errorf("VOLUME %v WORKDIR %s", f.Volumes, f.Workdir)
	}
	if !slices.Equal(f.Env, []string{"SSL_CERT_FILE=" + caBundle}) {
		t.Errorf("ENV %v", f.Env)
	}
	// The labels: the same keys; fixed values equal, per-build values from build arguments.
	want := labels(options{Version: "${VERSION}", Commit: "${COMMIT}", Source: defaultRepo, Created: time.Unix(0, 0).UTC()})
	want["org.opencontainers.image.created"] = "${CREATED}"
	if !maps.Equal(f.Labels, want) {
		t.Errorf("LABEL %v\nwant %v", f.Labels, want)
	}
	if !slices.ContainsFunc(f.Copies, func(c string) bool { return strings.HasSuffix(c, "/out/liaison /liaison") }) {
		t.Errorf("the binary is not copied to %s: %v", binaryPath, f.Copies)
	}
	// The build stage builds as the builder does: static, trimmed, stamped,
	// and takes passwd, group and CA bundle from -rootfs.
	text := string(b)
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath", "-buildid=", "gateway/buildinfo.version=${VERSION}", "gateway/buildinfo.commit=${COMMIT}", "go run ./deploy/image -rootfs /out/rootfs", "FROM golang:" + goMinor(t)} {
		if !strings.Contains(text, s) {
			t.Errorf("the Dockerfile lacks %q", s)
		}
	}
}

// goMinor is go.mod's language version as major.minor (1.26): the
// Dockerfile's build stage must use a Go of that release.
func goMinor(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no go line in go.mod")
	}
	return string(m[1]) + "."
}

func TestParseDockerfileRejects(t *testing.T) {
	for _, d := range []string{"FROM scratch\nENTRYPOINT /liaison\n", "FROM scratch\nLABEL a=b\n", "FROM scratch\nCMD serve\n"} {
		if _, err := parseDockerfile(d); err == nil {
			t.Errorf("accepted %q", d)
		}
	}
}

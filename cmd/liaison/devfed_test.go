package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// syncBuffer is an io.Writer the command writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDevFederation runs `liaison dev --federation 3` in process on free
// ports: three gateways come up, each ready on its own admin listener and
// serving its own agencies only, and every profile the banner names exists
// and points at the gateway hosting that agency.
func TestDevFederation(t *testing.T) {
	dir := t.TempDir()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	root := newRoot()
	root.SetOut(out)
	root.SetArgs([]string{"dev", "--federation", "3", "--data-dir", dir, "--base-port", "0", "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case err := <-done:
			t.Fatalf("dev --federation 3 stopped before it was ready: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("no banner:\n%s", out.String())
		}
	}
	banner := out.String()
	t.Log(banner)
	// Each agency's certificate for a browser (the console), with the
	// password the banner gives.
	if !strings.Contains(banner, "/console/") || !strings.Contains(banner, "password "+devP12Password) {
		t.Errorf("the banner does not show the console")
	}
	if pfx, err := os.ReadFile(filepath.Join(dir, "profiles", "hmrc.p12")); err != nil {
		t.Error(err)
	} else if _, _, _, err := pkcs12.DecodeChain(pfx, devP12Password); err != nil {
		t.Errorf("hmrc.p12: %v", err)
	}
	// The banner's client commands find the profiles wherever dev ran.
	if want := "--profile-dir " + filepath.Join(dir, "profiles"); !strings.Contains(banner, want) {
		t.Errorf("banner lacks %q", want)
	}

	type node struct {
		id  string
		cfg config.Config
	}
	var nodes []node
	for _, id := range []string{"gw-police", "gw-national", "gw-intl"} {
		cfg, err := config.Load(filepath.Join(dir, id, "liaison.yaml"), dir, nil)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		nodes = append(nodes, node{id, cfg})
	}
	hostOf := map[string]node{}
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	for _, nd := range nodes {
		_, apiPort, _ := net.SplitHostPort(nd.cfg.Listen)
		_, fedPort, _ := net.SplitHostPort(nd.cfg.Federation.Listen)
		for _, want := range []string{nd.id, "https://localhost:" + apiPort, "http://" + nd.cfg.AdminListen,
			"https://localhost:" + fedPort, strings.Join(nd.cfg.Federation.Agencies, ", ")} {
			if !strings.Contains(banner, want) {
				t.Errorf("banner lacks %q", want)
			}
		}
		resp, err := client.Get("http://" + nd.cfg.AdminListen + "/readyz")
		if err != nil {
			t.Fatalf("%s /readyz: %v", nd.id, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s /readyz = %d: %s", nd.id, resp.StatusCode, body)
		}
		for _, a := range nd.cfg.Federation.Agencies {
			hostOf[a] = nd
		}
	}
	if got := []string{hostOf["met-police"].id, hostOf["hmrc"].id, hostOf["selec"].id}; !slices.Equal(got, []string{"gw-police", "gw-national", "gw-intl"}) {
		t.Errorf("met-police, hmrc, selec hosted by %v", got)
	}

	// Every profile the banner names exists and points at the gateway
	// hosting its agency; so does the profile of every hosted agency.
	printed := map[string]bool{}
	for _, m := range regexp.MustCompile(`--profile ([a-z0-9-]+)`).FindAllStringSubmatch(banner, -1) {
		printed[m[1]] = true
	}
	if len(printed) < 2 {
		t.Fatalf("banner names profiles %v", printed)
	}
	for a := range printed {
		if _, ok := hostOf[a]; !ok {
			t.Errorf("banner names profile %s, which no gateway hosts", a)
		}
	}
	for a, nd := range hostOf {
		b, err := os.ReadFile(filepath.Join(dir, "profiles", a+".yaml"))
		if err != nil {
			t.Fatalf("profile %s: %v", a, err)
		}
		var p profile
		if err := yaml.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		_, apiPort, _ := net.SplitHostPort(nd.cfg.Listen)
		if p.Agency != a || p.Endpoint != "https://localhost:"+apiPort || p.Audience != nd.id {
			t.Errorf("profile %s = %+v, want endpoint of %s", a, p, nd.id)
		}
	}

	// met-police lists records at its own gateway (200); its certificate
	// is no client of gw-national, whose agency trust bundle is its own CA.
	mp := filepath.Join(dir, "profiles", "met-police.yaml")
	if out, err := runCLI(t, "records", "list", "--profile", mp, "-o", "json"); err != nil {
		t.Errorf("records list as met-police at gw-police: %v\n%s", err, out)
	}
	national := hostOf["hmrc"]
	_, nport, _ := net.SplitHostPort(national.cfg.Listen)
	if _, err := runCLI(t, "records", "list", "--profile", mp, "--endpoint", "https://localhost:"+nport,
		"--ca", filepath.Join(dir, "gw-national", "pki", "ca.pem"), "-o", "json"); err == nil {
		t.Error("met-police's certificate was accepted by gw-national")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev --federation stopped with %v", err)
	}
}

// Flags that make no sense together, or a size out of range, are refused
// before anything starts.
func TestDevFederationRefusals(t *testing.T) {
	for _, args := range [][]string{
		{"dev", "--federation", "1", "--base-port", "0"},
		{"dev", "--federation", "6", "--base-port", "0"},
		{"dev", "--federation", "3", "--listen", "127.0.0.1:0"},
	} {
		root := newRoot()
		root.SetOut(io.Discard)
		root.SetArgs(append(args, "--data-dir", t.TempDir()))
		if err := root.ExecuteContext(t.Context()); err == nil {
			t.Errorf("%v: no error", args)
		} else {
			t.Logf("%v: %v", args, err)
		}
	}
}

// The federated example is a valid record today: on one gateway, where
// every agency is local, met-police publishes it and both recipients (HMRC
// and the ROCU, parties to its DSA) read it, with the protected field
// withheld. Federation then only changes where the recipients are.
func TestFederatedExampleRecord(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	dir := t.TempDir()
	met := profileFor(t, env, dir, "met-police")
	out, err := runCLI(t, "records", "put", "--profile", met, "--file",
		filepath.Join("..", "..", "deploy", "examples", "record-federated.json"), "-o", "json")
	if err != nil {
		t.Fatalf("put: %v %s", err, out)
	}
	var put api.Published
	if err := api.Decode([]byte(out), &put); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"hmrc", "rocu-nw"} {
		p := profileFor(t, env, dir, a)
		token, err := runCLI(t, "dev", "token", "--profile", p, "--officer", "fi-201", "--clearance", "SC")
		if err != nil {
			t.Fatal(err)
		}
		out, err := runCLI(t, "records", "get", "--profile", p, "--token", strings.TrimSpace(token),
			"--purpose", "investigation", "--justification", "OP-NIGHTJAR consignment check", put.ID, "-o", "json")
		if err != nil || !strings.Contains(out, "Port of Liverpool") || strings.Contains(out, "Handler notes") {
			t.Fatalf("%s reads the example: %v %s", a, err, out)
		}
	}
	// nca is a party to the DSA but no recipient: not found.
	out, err = runCLI(t, "records", "get", "--profile", profileFor(t, env, dir, "nca"), "--purpose", "investigation",
		"--justification", "OP-NIGHTJAR consignment check", put.ID, "-o", "json")
	if err == nil || !strings.Contains(out, `"status":404`) {
		t.Fatalf("nca reads the example: %v %s", err, out)
	}
}

// Package devnettest runs a local federation (package devnet) as separate
// OS processes for tests: each gateway is `liaison serve --config
// <node>/liaison.yaml`, built once per test binary, started on free
// loopback ports and waited for until its admin /readyz answers 200. A test
// can kill a gateway with SIGKILL (as a crash), restart it on the same data
// and ports, and talk to any gateway as one of its agencies (mutual TLS
// with the agency's certificate, officer tokens signed with the agency's
// dev key) or as a peer gateway (its gateway certificate).
//
// Every process is reaped before the test ends; the output of each gateway
// is kept and written to the test log when the test fails. A test package
// that uses it calls Main from its TestMain, which also checks for leaked
// goroutines and removes the built binary.
package devnettest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/devnet"
)

// ReadyTimeout bounds how long Start and Restart wait for a gateway's
// /readyz; generous, because the machine may be shared.
var ReadyTimeout = 90 * time.Second

// build is the liaison binary, built once per test binary.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Main runs the package's tests with goleak's check (opts are passed to
// goleak.VerifyTestMain) and removes the binary Binary built. Call it from
// TestMain: func TestMain(m *testing.M) { devnettest.Main(m) }.
func Main(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(m, append(opts, goleak.Cleanup(func(code int) {
		if build.dir != "" {
			os.RemoveAll(build.dir)
		}
		os.Exit(code)
	}))...)
}

// Binary returns the path of the liaison binary, building it on the first
// call (go build -o into a temporary directory). Without Main in TestMain
// the directory is left behind.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "liaison-devnettest-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "liaison")
		gobin, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("devnettest: the go command is needed to build liaison: %w", err)
			return
		}
		cmd := exec.Command(gobin, "build", "-o", build.path, "github.com/liaison-project/liaison/cmd/liaison")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("devnettest: go build: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// Options configures Start. Zero fields take defaults.
type Options struct {
	// Gateways is the number of gateways (default 2).
	Gateways int
	// Dir is the federation directory (default a fresh t.TempDir()); a
	// directory from an earlier Start keeps its records.
	Dir string
	// Env is added to every gateway's environment (LIAISON_* overrides,
	// e.g. LIAISON_FEDERATION_RETRY_MAX=1s). The test's own LIAISON_*
	// variables are not passed on.
	Env []string
	// NoStart ensures the federation and its files but starts no gateway;
	// the test starts them with Federation.Start.
	NoStart bool
}

// Federation is a running local federation of gateway processes.
type Federation struct {
	Net *devnet.Net

	t     testing.TB
	bin   string
	env   []string
	mu    sync.Mutex
	procs map[string]*process
	logs  map[string]*lockedBuffer
	// transports are closed at cleanup so no connection goroutine outlives
	// the test.
	transports []*http.Transport
}

type process struct {
	// logStart is where this start's output begins in the gateway's log.
	logStart int
	cmd      *exec.Cmd
	done     chan struct{} // closed when Wait has returned (the process is reaped)
	err      error         // Wait's result, once done is closed
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start makes the federation on free loopback ports and starts every
// gateway as a process (unless o.NoStart), each ready before it returns.
// Everything is stopped and reaped at the end of the test.
func Start(t testing.TB, o Options) *Federation {
	t.Helper()
	if o.Gateways == 0 {
		o.Gateways = 2
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	bin := Binary(t)
	dn, err := devnet.Ensure(context.Background(), o.Dir, devnet.Options{Gateways: o.Gateways, Port: devnet.FreeLoopbackPort})
	if err != nil {
		t.Fatal(err)
	}
	f := &Federation{Net: dn, t: t, bin: bin, procs: map[string]*process{}, logs: map[string]*lockedBuffer{}}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIAISON_") {
			f.env = append(f.env, kv)
		}
	}
	f.env = append(append(f.env, "NO_COLOR=1"), o.Env...)
	t.Cleanup(f.cleanup)
	if !o.NoStart {
		for _, nd := range dn.Nodes {
			f.launch(nd)
		}
		for _, nd := range dn.Nodes {
			f.WaitReady(nd.ID)
		}
	}
	return f
}

// node returns the gateway id or fails the test.
func (f *Federation) node(id string) *devnet.Node {
	f.t.Helper()
	nd := f.Net.Node(id)
	if nd == nil {
		f.t.Fatalf("devnettest: no gateway %q", id)
	}
	return nd
}

// Host returns the gateway hosting agency, or fails the test.
func (f *Federation) Host(agency string) *devnet.Node {
	f.t.Helper()
	nd := f.Net.Host(agency)
	if nd == nil {
		f.t.Fatalf("devnettest: no gateway hosts %q", agency)
	}
	return nd
}

// launch starts the gateway's process without waiting for it.
func (f *Federation) launch(nd *devnet.Node) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.procs[nd.ID]; p != nil && !p.exited() {
		f.t.Fatalf("devnettest: %s is already running", nd.ID)
	}
	logs := f.logs[nd.ID]
	if logs == nil {
		logs = &lockedBuffer{}
		f.logs[nd.ID] = logs
	}
	logStart := len(logs.String())
	fmt.Fprintf(logs, "--- devnettest: start %s ---\n", nd.ID)
	cmd := exec.Command(f.bin, "serve", "--config", nd.ConfigFile, "--data-dir", nd.Dir)
	cmd.Env = f.env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("devnettest: start %s: %v", nd.ID, err)
	}
	p := &process{logStart: logStart, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	f.procs[nd.ID] = p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts gateway id (stopped, killed or never started) and waits
// until it is ready.
func (f *Federation) Start(id string) {
	f.t.Helper()
	f.launch(f.node(id))
	f.WaitReady(id)
}

// WaitReady waits until gateway id's admin /readyz answers 200, and fails
// the test (with the gateway's output) if the process exits first or
// ReadyTimeout passes.
func (f *Federation) WaitReady(id string) {
	f.t.Helper()
	nd := f.node(id)
	f.mu.Lock()
	p := f.procs[id]
	f.mu.Unlock()
	if p == nil {
		f.t.Fatalf("devnettest: %s was never started", id)
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(ReadyTimeout)
	last := "no answer"
	rebinds := 0
	for {
		resp, err := client.Get(nd.AdminURL() + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			// A gateway restarts on the ports it had; between its death and
			// the restart another process's outgoing connection can take
			// one of them as its ephemeral source port for a moment. That
			// is the test machine's, not the gateway's: start again.
			if out := f.Output(id); rebinds < 20 && p.logStart <= len(out) && strings.Contains(out[p.logStart:], "address already in use") {
				rebinds++
				time.Sleep(250 * time.Millisecond)
				f.launch(nd)
				f.mu.Lock()
				p = f.procs[id]
				f.mu.Unlock()
				continue
			}
			f.t.Fatalf("devnettest: %s exited before it was ready (%v):\n%s", id, p.err, f.Output(id))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("devnettest: %s not ready after %v (last: %s):\n%s", id, ReadyTimeout, last, f.Output(id))
		}
	}
}

// Running reports whether gateway id's process is alive.
func (f *Federation) Running(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.procs[id]
	return p != nil && !p.exited()
}

// Kill ends gateway id with SIGKILL, as a crash: nothing is flushed or
// closed. It returns when the process has been reaped.
func (f *Federation) Kill(id string) {
	f.t.Helper()
	f.signal(id, syscall.SIGKILL)
}

// Stop ends gateway id with SIGTERM (a graceful shutdown) and returns when
// the process has been reaped; a gateway still running after 30 seconds is
// killed and the test fails.
func (f *Federation) Stop(id string) {
	f.t.Helper()
	f.signal(id, syscall.SIGTERM)
}

func (f *Federation) signal(id string, sig syscall.Signal) {
	f.t.Helper()
	f.node(id)
	f.mu.Lock()
	p := f.procs[id]
	f.mu.Unlock()
	if p == nil || p.exited() {
		f.t.Fatalf("devnettest: %s is not running", id)
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		f.t.Fatalf("devnettest: signal %s: %v", id, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		f.t.Fatalf("devnettest: %s did not stop on %v:\n%s", id, sig, f.Output(id))
	}
}

// Restart kills gateway id if it is running (SIGKILL), starts it again on
// the same data directory and ports, and waits until it is ready.
func (f *Federation) Restart(id string) {
	f.t.Helper()
	if f.Running(id) {
		f.Kill(id)
	}
	f.Start(id)
}

// Output is everything gateway id has written to stdout and stderr, over
// all its starts.
func (f *Federation) Output(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.logs[id]; b != nil {
		return b.String()
	}
	return ""
}

// cleanup stops every gateway (gracefully, then by force), reaps it, and
// logs the gateways' output if the test failed.
func (f *Federation) cleanup() {
	f.mu.Lock()
	procs := make(map[string]*process, len(f.procs))
	for id, p := range f.procs {
		procs[id] = p
	}
	f.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for id, p := range procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			f.t.Errorf("devnettest: %s did not stop on SIGTERM", id)
		}
	}
	for _, tr := range f.transports {
		tr.CloseIdleConnections()
	}
	if f.t.Failed() {
		ids := make([]string, 0, len(f.logs))
		for id := range f.logs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			f.t.Logf("output of %s:\n%s", id, f.Output(id))
		}
	}
}

func (f *Federation) client(cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	f.mu.Lock()
	f.transports = append(f.transports, tr)
	f.mu.Unlock()
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Client is an HTTP client that speaks to the gateway hosting agency as
// that agency: the agency's client certificate, trusting that gateway's CA.
// URL(agency) is the base URL to use with it.
func (f *Federation) Client(agency string) *http.Client {
	f.t.Helper()
	nd := f.Host(agency)
	cfg, err := nd.PKI.ClientTLSConfig(agency, "localhost")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.client(cfg)
}

// URL is the agency API of the gateway hosting agency (https://localhost:port).
func (f *Federation) URL(agency string) string {
	f.t.Helper()
	return f.Host(agency).APIURL()
}

// GatewayClient is an HTTP client presenting gateway from's certificate
// and trusting gateway to's CA: what from uses to call to's federation
// endpoint (to's FederationURL). Tests also use it to present a gateway
// certificate where an agency's is expected.
func (f *Federation) GatewayClient(from, to string) *http.Client {
	f.t.Helper()
	src, dst := f.node(from), f.node(to)
	cfg, err := pki.ClientTLSConfig(src.PKI.GatewayCertFile, src.PKI.GatewayKeyFile, []string{dst.PKI.CAFile}, "localhost")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.client(cfg)
}

// Token mints an officer token for agency as its identity provider would:
// signed with the agency's dev officer key, audience the gateway hosting
// it (as `liaison dev token`). o.Agency defaults to agency; ttl to an hour.
func (f *Federation) Token(agency string, o jose.Officer, ttl time.Duration) string {
	f.t.Helper()
	nd := f.Host(agency)
	key, err := jose.LoadPrivateJWK(nd.PKI.OfficerKeyFile(agency))
	if err != nil {
		f.t.Fatal(err)
	}
	if o.Agency == "" {
		o.Agency = agency
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	tok, err := jose.IssueOfficerToken(key, agency, nd.Config.Officers.Audience, o, ttl)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

package devstack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a private server may take to become healthy.
// It is a guard against a hung test, not a performance expectation.
const startTimeout = 90 * time.Second

// process is one server process started by a test; it is always stopped
// (and thawed first, should it be frozen) in t.Cleanup.
type process struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	frozen bool
}

func (p *process) start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	// Own process group: the server is ours alone and is signalled by pid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("devstack: start %s: %v", filepath.Base(cmd.Path), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done, p.frozen = cmd, done, false
	p.mu.Unlock()
}

// stop terminates the process (SIGTERM, then SIGKILL) and waits for it.
func (p *process) stop() {
	p.mu.Lock()
	cmd, done, frozen := p.cmd, p.done, p.frozen
	p.cmd, p.frozen = nil, false
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pid := cmd.Process.Pid
	if frozen {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	}
}

func (p *process) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		t.Fatalf("devstack: server is not running")
	}
	if err := syscall.Kill(p.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("devstack: signal %v: %v", sig, err)
	}
	p.frozen = sig == syscall.SIGSTOP
	if p.frozen {
		// kill(2) returns before the kernel has stopped every thread; on a
		// loaded machine a "frozen" server could still answer one request.
		waitStopped(t, p.cmd.Process.Pid)
	}
}

// waitStopped waits until /proc reports the process stopped (state T).
func waitStopped(t testing.TB, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // no /proc: nothing better to wait on
		}
		// The state follows the parenthesised command name.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'T' || b[i+2] == 't') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("devstack: process %d did not stop", pid)
}

func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// VaultServer is a private Vault dev server (in-memory storage, transit
// mounted at "transit/") owned by one test and stopped in t.Cleanup.
type VaultServer struct {
	VaultEnv
	// UnsealKey is the dev server's single unseal key. It is a throwaway
	// secret of a throwaway server, but do not log it anyway.
	UnsealKey string
	proc      process
}

// StartVault starts a private Vault dev server from the binary of the dev
// stack (LIAISON_TEST_VAULT_BIN), on a free loopback port.
func StartVault(t testing.TB) *VaultServer {
	t.Helper()
	bin := os.Getenv(EnvVaultBin)
	if bin == "" {
		missing(t, "Vault binary", EnvVaultBin)
	}
	dir := t.TempDir()
	port := freePort(t)
	s := &VaultServer{VaultEnv: VaultEnv{
		Addr:  "http://127.0.0.1:" + strconv.Itoa(port),
		Token: "root-" + randHex(t, 12),
		Bin:   bin,
	}}
	logPath := filepath.Join(dir, "vault.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("devstack: %v", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "-dev",
		"-dev-root-token-id="+s.Token,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port))
	// A clean environment: the shared stack's VAULT_* variables must not leak in.
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	s.proc.start(t, cmd)
	t.Cleanup(s.proc.stop)
	s.PID = s.proc.pid()

	if err := waitHTTP(s.Addr+"/v1/sys/health", &s.proc); err != nil {
		t.Fatalf("devstack: private Vault did not become healthy: %v\n%s", err, tail(logPath))
	}
	s.UnsealKey = unsealKeyFrom(t, logPath)
	if err := s.call(http.MethodPost, "/v1/sys/mounts/transit", map[string]any{"type": "transit"}); err != nil {
		t.Fatalf("devstack: enable transit: %v", err)
	}
	return s
}

var unsealRE = regexp.MustCompile(`Unseal Key: (\S+)`)

func unsealKeyFrom(t testing.TB, logPath string) string {
	t.Helper()
	// The dev server prints its banner (with the unseal key) right after it
	// starts serving; give the write a moment to land.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(logPath)
		if err == nil {
			if m := unsealRE.FindSubmatch(b); m != nil {
				return string(m[1])
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("devstack: no unseal key in the Vault dev server log")
	return ""
}

// Seal seals the server; Unseal undoes it. The in-memory storage survives.
func (s *VaultServer) Seal(t testing.TB) {
	t.Helper()
	if err := s.call(http.MethodPut, "/v1/sys/seal", nil); err != nil {
		t.Fatalf("devstack: seal Vault: %v", err)
	}
}

// Unseal unseals a sealed server and waits until it serves requests again.
func (s *VaultServer) Unseal(t testing.TB) {
	t.Helper()
	if err := s.call(http.MethodPut, "/v1/sys/unseal", map[string]any{"key": s.UnsealKey}); err != nil {
		t.Fatalf("devstack: unseal Vault: %v", err)
	}
	if err := waitHTTP(s.Addr+"/v1/sys/health", &s.proc); err != nil {
		t.Fatalf("devstack: Vault not healthy after unseal: %v", err)
	}
}

// Freeze stops the process with SIGSTOP: connections are accepted by the
// kernel but never answered, as with a hung server. Thaw resumes it.
// A frozen server is thawed before it is stopped in t.Cleanup.
func (s *VaultServer) Freeze(t testing.TB) { t.Helper(); s.proc.signal(t, syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *VaultServer) Thaw(t testing.TB) { t.Helper(); s.proc.signal(t, syscall.SIGCONT) }

// Root performs an authenticated request with the root token (for test
// setup such as writing policies or enabling auth methods) and returns the
// decoded JSON body, if any.
func (s *VaultServer) Root(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	out, err := VaultRequest(s.Addr, s.Token, method, path, body)
	if err != nil {
		t.Fatalf("devstack: %s %s: %v", method, path, err)
	}
	return out
}

func (s *VaultServer) call(method, path string, body any) error {
	_, err := VaultRequest(s.Addr, s.Token, method, path, body)
	return err
}

// VaultRequest is a minimal Vault HTTP call for test setup, independent of
// the client under test. path starts with "/v1/".
func VaultRequest(addr, token, method, path string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, addr+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// MinIOServer is a private single-drive MinIO owned by one test and stopped
// in t.Cleanup. Stop and Restart keep the port, data and credentials.
type MinIOServer struct {
	MinIOEnv
	consolePort int
	logPath     string
	proc        process
}

// StartMinIO starts a private MinIO from the binary of the dev stack
// (LIAISON_TEST_MINIO_BIN), on a free loopback port with fresh credentials.
func StartMinIO(t testing.TB) *MinIOServer {
	t.Helper()
	bin := os.Getenv(EnvMinIOBin)
	if bin == "" {
		missing(t, "MinIO binary", EnvMinIOBin)
	}
	dir := t.TempDir()
	s := &MinIOServer{
		MinIOEnv: MinIOEnv{
			Endpoint:  "127.0.0.1:" + strconv.Itoa(freePort(t)),
			AccessKey: "liaison-test",
			SecretKey: randHex(t, 16),
			Bin:       bin,
			DataDir:   filepath.Join(dir, "data"),
		},
		consolePort: freePort(t),
		logPath:     filepath.Join(dir, "minio.log"),
	}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		t.Fatalf("devstack: %v", err)
	}
	t.Cleanup(s.proc.stop)
	s.Restart(t)
	return s
}

// Stop terminates the server and waits for it to exit.
func (s *MinIOServer) Stop(t testing.TB) {
	t.Helper()
	s.proc.stop()
	s.PID = 0
}

// Restart starts a stopped server again on the same port, with the same
// data directory and credentials, and waits until it is ready.
func (s *MinIOServer) Restart(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("devstack: %v", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.Bin, "server", s.DataDir,
		"--address", s.Endpoint,
		"--console-address", "127.0.0.1:"+strconv.Itoa(s.consolePort))
	cmd.Env = []string{
		"HOME=" + filepath.Dir(s.DataDir),
		"PATH=" + os.Getenv("PATH"),
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	s.proc.start(t, cmd)
	s.PID = s.proc.pid()
	if err := waitHTTP("http://"+s.Endpoint+"/minio/health/ready", &s.proc); err != nil {
		t.Fatalf("devstack: private MinIO did not become ready: %v\n%s", err, tail(s.logPath))
	}
}

// Freeze stops the process with SIGSTOP (a hung server); Thaw resumes it.
func (s *MinIOServer) Freeze(t testing.TB) { t.Helper(); s.proc.signal(t, syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *MinIOServer) Thaw(t testing.TB) { t.Helper(); s.proc.signal(t, syscall.SIGCONT) }

// waitHTTP polls url until it answers 200, the process exits, or
// startTimeout passes.
func waitHTTP(url string, p *process) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("server process exited")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		time.Sleep(150 * time.Millisecond)
	}
	return fmt.Errorf("timed out: %v", last)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("devstack: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("devstack: %v", err)
	}
	return hex.EncodeToString(b)
}

// tail returns the last lines of a server log for a failure message. Dev
// server logs hold only throwaway credentials of throwaway servers.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	var b bytes.Buffer
	for _, l := range lines {
		if unsealRE.MatchString(l) {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

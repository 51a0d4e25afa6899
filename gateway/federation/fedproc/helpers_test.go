package fedproc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/devnet"
	"github.com/liaison-project/liaison/gateway/devnet/devnettest"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/policies"
)

func TestMain(m *testing.M) { devnettest.Main(m) }

// settle bounds every wait for the federation to settle: generous, the
// machine may be loaded; waits poll and end as soon as the state is
// reached.
const settle = 3 * time.Minute

// fastRetries makes the gateways retry deliveries within a second instead
// of the production 30 s cap, so that a test waiting for a peer to come
// back waits seconds.
var fastRetries = []string{"LIAISON_FEDERATION_RETRY_INITIAL=50ms", "LIAISON_FEDERATION_RETRY_MAX=1s"}

// start starts a federation of three gateway processes; configure (if not
// nil) edits a node's configuration before it first starts (it is written
// back to the node's liaison.yaml).
func start(t *testing.T, configure func(n *devnet.Net, nd *devnet.Node)) *devnettest.Federation {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the liaison binary and runs three gateway processes")
	}
	f := devnettest.Start(t, devnettest.Options{Gateways: 3, NoStart: true, Env: fastRetries})
	for _, nd := range f.Net.Nodes {
		if configure != nil {
			configure(f.Net, nd)
			writeConfig(t, nd)
		}
	}
	for _, nd := range f.Net.Nodes {
		f.Start(nd.ID)
	}
	return f
}

// writeConfig writes nd.Config back to its liaison.yaml, as devnet does.
func writeConfig(t *testing.T, nd *devnet.Node) {
	t.Helper()
	if err := nd.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(nd.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nd.ConfigFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// suspendDSA writes the bundled policy library to dir with dsa suspended:
// the gateway's own copy of the DSAs, with which it decides acceptance.
func suspendDSA(t *testing.T, dir, dsa string) {
	t.Helper()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "data", "dsas.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["dsas"][dsa] == nil {
		t.Fatalf("no DSA %s in the bundled policy", dsa)
	}
	doc["dsas"][dsa]["status"] = "suspended"
	b, _ = json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cliResult is one run of the liaison CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the liaison binary with args and --data-dir the federation's
// directory (where its agencies' profiles are), as an operator would.
func cli(t *testing.T, f *devnettest.Federation, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args = append(args, "--data-dir", f.Net.Dir)
	cmd := exec.CommandContext(ctx, devnettest.Binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "NO_COLOR=1"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		var ee *exec.ExitError
		if !asExit(err, &ee) {
			t.Fatalf("liaison %s: %v", strings.Join(args, " "), err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*ee = e
	}
	return ok
}

// mustCLI runs the CLI and fails the test unless it exits 0; it returns
// standard output.
func mustCLI(t *testing.T, f *devnettest.Federation, args ...string) string {
	t.Helper()
	r := cli(t, f, args...)
	if r.code != 0 {
		t.Fatalf("liaison %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// decode decodes JSON or fails the test.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T from %q: %v", v, b, err)
	}
	return v
}

// do sends one request; the error is the transport's (a gateway being
// killed is expected to cause some).
func do(ctx context.Context, c *http.Client, method, url string, body []byte, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustDo is do that fails the test on a transport error.
func mustDo(t *testing.T, c *http.Client, method, url string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	st, b, err := do(t.Context(), c, method, url, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return st, b
}

// reader is an officer of agency reading at its own gateway through the
// agency API.
type reader struct {
	c   *http.Client
	url string
	hdr map[string]string
}

func newReader(t *testing.T, f *devnettest.Federation, agency, justification string) *reader {
	t.Helper()
	tok := f.Token(agency, jose.Officer{ID: "off-" + agency, Clearance: "SC"}, 2*time.Hour)
	return &reader{c: f.Client(agency), url: f.URL(agency), hdr: map[string]string{
		"Authorization": "Bearer " + tok, "Liaison-Purpose": "investigation", "Liaison-Justification": justification}}
}

// get reads record id; transport errors fail the test.
func (r *reader) get(t *testing.T, id string) (int, []byte) {
	t.Helper()
	return mustDo(t, r.c, http.MethodGet, r.url+"/v1/records/"+id, nil, r.hdr)
}

// list lists every record r may read, following the cursor.
func (r *reader) list(t *testing.T) []api.RecordListItem {
	t.Helper()
	var out []api.RecordListItem
	cursor := ""
	for {
		path := "/v1/records?limit=50"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		st, b := mustDo(t, r.c, http.MethodGet, r.url+path, nil, r.hdr)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, st, b)
		}
		page := decode[api.RecordList](t, b)
		out = append(out, page.Items...)
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// waitRead polls until reading id answers want.
func (r *reader) waitRead(t *testing.T, id string, want int) []byte {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		st, b := r.get(t, id)
		if st == want {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s, want %d", id, st, b, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deliveries is the originator's view of where id went (GET
// /v1/records/{id}/deliveries).
func deliveries(t *testing.T, c *http.Client, base, id string) api.Deliveries {
	t.Helper()
	st, b := mustDo(t, c, http.MethodGet, base+"/v1/records/"+id+"/deliveries", nil, nil)
	if st != http.StatusOK {
		t.Fatalf("deliveries of %s: %d %s", id, st, b)
	}
	return decode[api.Deliveries](t, b)
}

// find returns the delivery item for gateway and type, or nil.
func find(ds api.Deliveries, gateway, typ string) *api.Delivery {
	for i := range ds.Items {
		if ds.Items[i].Gateway == gateway && ds.Items[i].Type == typ {
			return &ds.Items[i]
		}
	}
	return nil
}

// receipt verifies a receipt with the signing keys gateway nd publishes
// and decodes it.
func receipt(t *testing.T, nd *devnet.Node, jws string) federation.Receipt {
	t.Helper()
	keys, err := os.ReadFile(nd.SigningKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jose.NewVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := v.Verify([]byte(jws))
	if err != nil {
		t.Fatalf("receipt does not verify with %s's signing keys: %v", nd.ID, err)
	}
	return decode[federation.Receipt](t, payload)
}

// auditOf reads gateway nd's audit log (while it runs: the last line may
// be an append in progress, which Scan skips).
func auditOf(t *testing.T, nd *devnet.Node, flt audit.Filter) []audit.Event {
	t.Helper()
	evs, err := audit.Query([]string{nd.Config.Audit.Path}, flt, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// example reads a file of deploy/examples.
func example(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordBody is deploy/examples/record-federated.json with edit applied to
// its meta.
func recordBody(t *testing.T, edit func(meta map[string]any)) []byte {
	t.Helper()
	var doc map[string]map[string]any
	if err := json.Unmarshal(example(t, "record-federated.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(doc["meta"])
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes b to a file in a temporary directory.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var _ = record.NewID

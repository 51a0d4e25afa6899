package devnettest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway/devnet/devnettest"
)

func TestMain(m *testing.M) { devnettest.Main(m) }

func do(t *testing.T, c *http.Client, method, url string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Two gateways as separate processes: each serves its own agency; one is
// killed with SIGKILL and restarted on the same data, ready again, with the
// record published before the crash still there.
func TestTwoGatewaysKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the liaison binary and runs two gateway processes")
	}
	f := devnettest.Start(t, devnettest.Options{Gateways: 2})
	police, national := f.Host("met-police"), f.Host("hmrc")
	if police.ID != "gw-police" || national.ID != "gw-national" {
		t.Fatalf("met-police on %s, hmrc on %s", police.ID, national.ID)
	}
	for _, a := range []string{"met-police", "hmrc"} {
		if code, body := do(t, f.Client(a), http.MethodGet, f.URL(a)+"/v1/records", nil, nil); code != http.StatusOK {
			t.Fatalf("GET /v1/records as %s at %s = %d %s", a, f.Host(a).ID, code, body)
		}
	}
	// An agency's certificate is no client of the other gateway (its CA is
	// not in that gateway's agency trust bundle).
	if _, err := f.Client("met-police").Get(f.URL("hmrc") + "/v1/records"); err == nil {
		t.Fatal("met-police's certificate was accepted by gw-national")
	}

	// A gateway certificate (it carries ClientAuth, for calls to peers) is
	// no agency at its own gateway's agency API.
	if resp, err := f.GatewayClient(police.ID, police.ID).Get(police.APIURL() + "/v1/records"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("gw-police's gateway certificate was served as an agency")
		}
		t.Logf("gateway certificate at the agency API: %d", resp.StatusCode)
	} else {
		t.Logf("gateway certificate at the agency API: %v", err)
	}

	record, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "examples", "record.json"))
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, f.Client("met-police"), http.MethodPost, f.URL("met-police")+"/v1/records", record, nil)
	if code != http.StatusCreated {
		t.Fatalf("publish = %d %s", code, body)
	}
	var put struct{ ID string }
	if err := json.Unmarshal(body, &put); err != nil || put.ID == "" {
		t.Fatalf("publish answer %s: %v", body, err)
	}

	f.Kill(police.ID)
	if f.Running(police.ID) {
		t.Fatal("killed gateway still running")
	}
	if _, err := http.Get(police.AdminURL() + "/readyz"); err == nil {
		t.Fatal("killed gateway still answers")
	}
	// The other gateway is unaffected.
	if code, _ := do(t, f.Client("hmrc"), http.MethodGet, f.URL("hmrc")+"/v1/records", nil, nil); code != http.StatusOK {
		t.Fatalf("gw-national after gw-police's crash: %d", code)
	}

	f.Restart(police.ID)
	tok := f.Token("rocu-nw", jose.Officer{ID: "ds-101", Clearance: "SC"}, time.Hour)
	code, body = do(t, f.Client("rocu-nw"), http.MethodGet, f.URL("rocu-nw")+"/v1/records/"+put.ID, nil, map[string]string{
		"Authorization": "Bearer " + tok, "Liaison-Purpose": "investigation", "Liaison-Justification": "OP-NIGHTJAR tasking",
	})
	if code != http.StatusOK || !bytes.Contains(body, []byte("Salford")) {
		t.Fatalf("record published before the crash, read after restart: %d %s", code, body)
	}
	if f.Output(police.ID) == "" {
		t.Error("no output captured from the gateway process")
	}
}

package gateway_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/policies"
)

// IBANs that must never reach a recipient.
const (
	ibanSubject = "GB33BUKB20201555555555"
	ibanAcct1   = "DE89370400440532013000"
	ibanAcct2   = "FR1420041010050500013M02606"
)

func nestedBody(protected []any, content map[string]any) map[string]any {
	b := recordBody(func(m map[string]any) { m["protected_fields"] = protected })
	b["content"] = content
	return b
}

func nestedContent() map[string]any {
	return map[string]any{
		"summary": "Subject A moves money through two accounts",
		"subject": map[string]any{"name": "Subject A", "iban": ibanSubject},
		"accounts": []any{
			map[string]any{"iban": ibanAcct1, "bank": "Bank One"},
			map[string]any{"bank": "Bank Two"},
			map[string]any{"iban": ibanAcct2, "bank": "Bank Three"},
		},
	}
}

func recordObjects(t *testing.T, env *gatewaytest.Env) int {
	t.Helper()
	n := 0
	for _, f := range storeFiles(t, env) {
		if strings.HasPrefix(f, "records/") {
			n++
		}
	}
	return n
}

// TestNestedProtectedFieldsAreRedacted is issue 9 item 1: a nested
// protected field ("subject.iban") and an array wildcard
// ("accounts.*.iban") are removed from what a recipient reads, and
// handling.redacted names them. Before the fix only top-level names were
// removed: the recipient got both IBANs in clear.
func TestNestedProtectedFieldsAreRedacted(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")

	id := publish(t, met, nestedBody([]any{"subject.iban", "accounts.*.iban"}, nestedContent()))

	r := rocu.MustDo("GET", "/v1/records/"+id, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	for _, iban := range []string{ibanSubject, ibanAcct1, ibanAcct2} {
		if bytes.Contains(r.Body, []byte(iban)) {
			t.Fatalf("recipient's response holds the protected IBAN %s: %s", iban, r.Body)
		}
	}
	var resp struct {
		Content struct {
			Subject  map[string]any   `json:"subject"`
			Accounts []map[string]any `json:"accounts"`
		} `json:"content"`
		Handling struct {
			Redacted []string `json:"redacted"`
		} `json:"handling"`
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if want := []string{"accounts.*.iban", "subject.iban"}; !reflect.DeepEqual(resp.Handling.Redacted, want) {
		t.Fatalf("handling.redacted = %q, want %q", resp.Handling.Redacted, want)
	}
	// Only the protected values went: the rest of each object is there.
	if resp.Content.Subject["name"] != "Subject A" || len(resp.Content.Accounts) != 3 || resp.Content.Accounts[2]["bank"] != "Bank Three" {
		t.Fatalf("redaction removed more than the protected fields: %s", r.Body)
	}

	// The originator reads its own record whole.
	o := met.MustDo("GET", "/v1/records/"+id, nil)
	if o.Status != http.StatusOK || !bytes.Contains(o.Body, []byte(ibanSubject)) || !bytes.Contains(o.Body, []byte(ibanAcct2)) {
		t.Fatalf("originator read: %d %s", o.Status, o.Body)
	}
}

// TestProtectedFieldThatCannotApplyIs400: a protected field that does not
// parse, matches nothing, or steps into a scalar or an array is refused at
// publish with a 400 naming it, and nothing is stored. Before the fix each
// of these was accepted and protected nothing.
func TestProtectedFieldThatCannotApplyIs400(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	met := env.Client("met-police")
	before := recordObjects(t, env)
	for _, tc := range []struct{ path, detail string }{
		{"subject.bic", "matches nothing"},
		{"summary.iban", "steps into a scalar"},
		{"accounts.iban", "is an array"},
		{"accounts.*", "ends at array elements"},
		{"subject..iban", "invalid redaction path"},
		{"subject.ib*n", "invalid redaction path"},
	} {
		r := met.MustDo("POST", "/v1/records", nestedBody([]any{"subject.iban", tc.path}, nestedContent()))
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%q: %d %s", tc.path, r.Status, r.Body)
		}
		var p struct {
			Errors []struct{ Pointer, Detail string } `json:"errors"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil || len(p.Errors) != 1 ||
			p.Errors[0].Pointer != "/meta/protected_fields/1" || !strings.Contains(p.Errors[0].Detail, tc.path) ||
			!strings.Contains(p.Errors[0].Detail, tc.detail) {
			t.Fatalf("%q: errors do not name the path and why: %s", tc.path, r.Body)
		}
	}
	if after := recordObjects(t, env); after != before {
		t.Fatalf("a refused publish stored %d record objects", after-before)
	}
}

// TestPolicyNamedNestedRedaction: a DSA's redact_fields are paths too. A
// nested one is applied; one that cannot be followed in a record (it steps
// into a string that may hold the value) fails closed by withholding the
// member that holds it, and handling.redacted says so.
func TestPolicyNamedNestedRedaction(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, policies.FS()); err != nil {
		t.Fatal(err)
	}
	dsas := filepath.Join(dir, "data", "dsas.json")
	b, err := os.ReadFile(dsas)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["dsas"]["dsa-uk-soc"]["redact_fields"] = []any{"subject.iban", "accounts.*.iban", "officer_contact"}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dsas, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *config.Config) { c.Policy.Dir = dir }})
	met := env.Client("met-police")
	rocu := env.Client("rocu-nw").With(hPurpose, "investigation", hJust, "OP-NIGHTJAR tasking 42")

	read := func(content map[string]any) ([]byte, []string) {
		t.Helper()
		id := publish(t, met, nestedBody([]any{}, content))
		r := rocu.MustDo("GET", "/v1/records/"+id, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		var resp struct {
			Handling struct {
				Redacted []string `json:"redacted"`
			} `json:"handling"`
		}
		if err := json.Unmarshal(r.Body, &resp); err != nil {
			t.Fatal(err)
		}
		for _, iban := range []string{ibanSubject, ibanAcct1, ibanAcct2} {
			if bytes.Contains(r.Body, []byte(iban)) {
				t.Fatalf("recipient's response holds %s: %s", iban, r.Body)
			}
		}
		return r.Body, resp.Handling.Redacted
	}

	if _, red := read(nestedContent()); !reflect.DeepEqual(red, []string{"accounts.*.iban", "subject.iban"}) {
		t.Fatalf("handling.redacted = %q", red)
	}
	// The DSA's path meets a string where it expects an object: the whole
	// member is withheld, not disclosed because the path "did not match".
	body, red := read(map[string]any{"summary": "s", "subject": "Subject A, IBAN " + ibanSubject,
		"accounts": []any{map[string]any{"iban": ibanAcct1}, ibanAcct2}})
	if !reflect.DeepEqual(red, []string{"accounts", "subject"}) || !bytes.Contains(body, []byte(`"summary":"s"`)) {
		t.Fatalf("handling.redacted = %q: %s", red, body)
	}
}

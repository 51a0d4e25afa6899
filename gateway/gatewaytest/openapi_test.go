package gatewaytest_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/httpapi"
)

// TestOpenAPIDocument: docs/openapi.yaml loads, validates as OpenAPI 3.1
// (every $ref resolves), and every operation has an operationId, a tag
// and responses.
func TestOpenAPIDocument(t *testing.T) {
	ct, err := gatewaytest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	if !ct.Doc.IsOpenAPI31OrLater() || !strings.HasPrefix(ct.Doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", ct.Doc.OpenAPI)
	}
	ids := map[string]bool{}
	ops := 0
	for path, pi := range ct.Doc.Paths.Map() {
		for method, op := range pi.Operations() {
			ops++
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if ids[op.OperationID] {
				t.Errorf("%s: operationId %s used twice", where, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Tags) == 0 {
				t.Errorf("%s: no tag", where)
			}
			if op.Responses == nil || op.Responses.Len() == 0 {
				t.Errorf("%s: no responses", where)
			}
		}
	}
	t.Logf("%d paths, %d operations, %d schemas", ct.Doc.Paths.Len(), ops, len(ct.Doc.Components.Schemas))
}

// TestOpenAPIRoutes: the document names exactly the routes the gateway
// registers on its agency and admin listeners, both ways.
func TestOpenAPIRoutes(t *testing.T) {
	ct, err := gatewaytest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, r := range append(httpapi.Routes(), gateway.AdminRoutes()...) {
		registered = append(registered, r.Pattern())
	}
	for _, r := range federation.Routes() {
		registered = append(registered, r.Pattern())
	}
	var documented []string
	for path, pi := range ct.Doc.Paths.Map() {
		for method := range pi.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	slices.Sort(registered)
	slices.Sort(documented)
	if len(registered) < 20 {
		t.Fatalf("only %d routes registered: %v", len(registered), registered)
	}
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is registered but not in docs/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("docs/openapi.yaml names %s, which the gateway does not register", d)
		}
	}
}

package gatewaytest_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/federation"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
	"github.com/liaison-project/liaison/gateway/httpapi"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/selector"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

// schemaType ties a component schema to the Go type whose JSON it
// describes. Traffic validation alone cannot see a field the Go type gained
// and the document lacks (the schemas allow extra members), nor a field a
// test never makes the gateway send; this comparison can.
type schemaType struct {
	schema string
	typ    reflect.Type
	// response: the gateway writes it, so a member without omitempty is
	// always present and must be required (and the other way round).
	response bool
	// partial: the schema lists some of the type's members on purpose
	// (its full shape is checked elsewhere, e.g. the publish schema); each
	// listed member must still exist.
	partial bool
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var schemaTypes = []schemaType{
	{"PublishRequest", typeOf[api.PublishRequest](), false, false},
	{"Published", typeOf[api.Published](), true, false},
	{"Record", typeOf[api.Record](), true, false},
	{"Handling", typeOf[api.Handling](), true, false},
	{"Review", typeOf[api.Review](), true, false},
	{"RecordList", typeOf[api.RecordList](), true, false},
	{"RecordListItem", typeOf[api.RecordListItem](), true, false},
	{"Recalled", typeOf[api.Recalled](), true, false},
	{"ReviewRequest", typeOf[api.ReviewRequest](), false, false},
	{"Reviewed", typeOf[api.Reviewed](), true, false},
	{"Deliveries", typeOf[api.Deliveries](), true, false},
	{"Delivery", typeOf[api.Delivery](), true, false},
	{"ShareRequest", typeOf[api.ShareRequest](), false, false},
	{"Shared", typeOf[api.Shared](), true, false},
	{"ConsentFiled", typeOf[api.ConsentFiled](), true, false},
	{"ConsentRefusal", typeOf[api.ConsentRefusal](), true, false},
	{"ConsentList", typeOf[api.ConsentList](), true, false},
	{"ConsentItem", typeOf[api.ConsentItem](), true, false},
	{"ConsentDecided", typeOf[api.ConsentDecided](), true, false},
	{"RequestFile", typeOf[api.RequestFile](), false, false},
	{"RequestAnswer", typeOf[api.RequestAnswer](), false, false},
	{"RequestDetail", typeOf[api.RequestDetail](), false, false},
	{"InfoRequest", typeOf[api.InfoRequest](), true, false},
	{"RequestEvent", typeOf[api.RequestEvent](), true, false},
	{"InfoRequestList", typeOf[api.InfoRequestList](), true, false},
	{"DecisionRequest", typeOf[api.DecisionRequest](), false, false},
	{"DecisionResult", typeOf[api.DecisionResult](), true, false},
	{"Decision", typeOf[policy.Decision](), true, false},
	{"Reason", typeOf[policy.Reason](), true, false},
	{"AuditPage", typeOf[api.AuditPage](), true, false},
	{"AuditEvent", typeOf[audit.Event](), true, true},
	{"AuditProof", typeOf[api.AuditProof](), true, false},
	{"EvidenceRequest", typeOf[api.EvidenceRequest](), false, false},
	{"EvidencePack", typeOf[api.EvidencePack](), true, false},
	{"EvidencePack.gateways[]", typeOf[audit.PackGateway](), true, false},
	{"EvidencePack.entries[]", typeOf[audit.PackEntry](), true, false},
	{"EvidencePack.uncovered[]", typeOf[audit.PackUncovered](), true, false},
	{"AuditStats", typeOf[api.AuditStats](), true, false},
	{"DSADayCount", typeOf[api.DSADayCount](), true, false},
	{"ReasonCount", typeOf[api.ReasonCount](), true, false},
	{"AgencyCount", typeOf[api.AgencyCount](), true, false},
	{"PolicyStatus", typeOf[api.PolicyStatus](), true, false},
	{"ShadowStatus", typeOf[api.ShadowStatus](), true, false},
	{"PolicyReloads", typeOf[api.PolicyReloads](), true, false},
	{"PolicyReload", typeOf[api.PolicyReload](), true, false},
	{"PolicyReload.reasons[]", typeOf[audit.Reason](), true, false},
	{"ShadowReport", typeOf[api.ShadowReport](), true, false},
	{"ShadowReplayReport", typeOf[shadow.ReplayReport](), true, false},
	{"ShadowReplayReport.by_action[]", typeOf[shadow.ActionChanges](), true, false},
	{"ShadowReplayReport.by_code[]", typeOf[shadow.CodeChanges](), true, false},
	{"ShadowChange", typeOf[shadow.Change](), true, false},
	{"Health", typeOf[api.Health](), true, false},
	{"Readiness", typeOf[api.Readiness](), true, false},
	{"Problem", typeOf[api.Problem](), true, false},
	{"FieldError", typeOf[record.FieldError](), true, false},
	{"Meta", typeOf[record.Meta](), true, true},
	{"Selector", typeOf[selector.Selector](), false, false},
	{"SearchRequest", typeOf[api.SearchRequest](), false, false},
	{"SearchResult", typeOf[api.SearchResult](), true, false},
	{"SelectorResult", typeOf[api.SelectorResult](), true, false},
	{"PeerState", typeOf[federation.PeerState](), true, false},
	{"FedWire", typeOf[federation.Wire](), false, false},
	{"FedWireReceipt", typeOf[federation.WireReceipt](), true, false},
	{"FedWireLedger", typeOf[federation.WireLedger](), true, false},
	{"FedCheckpointAnswer", typeOf[federation.CheckpointAnswer](), true, false},
	{"FedWitnessedAnswer", typeOf[federation.WitnessedAnswer](), true, false},
	{"FedCheckpointAnswer.proof", typeOf[federation.ConsistencyProof](), true, false},
	{"FedWitnessedAnswer.witnessed[]", typeOf[federation.WitnessedCheckpoint](), true, false},
	{"RegistryAgency", typeOf[api.RegistryAgency](), true, false},
	{"RegistryAgencies", typeOf[api.RegistryAgencies](), true, false},
	{"AgencyAdd", typeOf[api.AgencyAdd](), false, false},
	{"RegistryDSA", typeOf[api.RegistryDSA](), true, false},
	{"RegistryDSAs", typeOf[api.RegistryDSAs](), true, false},
	{"DSARenew", typeOf[api.DSARenew](), false, false},
	{"RegistryChanged", typeOf[api.RegistryChanged](), true, false},
	{"RegistryEnumValue", typeOf[api.RegistryEnumValue](), true, false},
	{"RegistryEnumerations", typeOf[api.RegistryEnumerations](), true, false},
	{"EnumAdd", typeOf[api.EnumAdd](), false, false},
	// Inline schemas: a component, then members ("." name, "[]" items).
	{"SelectorResult.records[]", typeOf[api.SearchRecord](), true, false},
	{"SelectorResult.hits[]", typeOf[api.SearchHitRef](), true, false},
}

// jsonMember is one member a Go type marshals to.
type jsonMember struct {
	name   string
	always bool // no omitempty/omitzero: always written
}

// jsonMembers lists the members encoding/json writes for t (a struct),
// with embedded structs' members promoted.
func jsonMembers(t reflect.Type) []jsonMember {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []jsonMember
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonMembers(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		out = append(out, jsonMember{name: name, always: !omit})
	}
	return out
}

// TestOpenAPISchemasMatchGoTypes: each component schema names exactly the
// JSON members of the Go type it describes (gateway/api and the types it
// embeds), and a response schema requires exactly the members the gateway
// always writes.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	ct, err := gatewaytest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range schemaTypes {
		ref := lookupSchema(ct.Doc, st.schema)
		if ref == nil || ref.Value == nil {
			t.Errorf("schema %s (for %v) is not in docs/openapi.yaml", st.schema, st.typ)
			continue
		}
		checkSchema(t, st, ref.Value)
	}
}

func checkSchema(t *testing.T, st schemaType, s *openapi3.Schema) {
	t.Helper()
	members := jsonMembers(st.typ)
	if len(members) == 0 {
		t.Fatalf("%v has no JSON members", st.typ)
	}
	byName := map[string]jsonMember{}
	for _, m := range members {
		byName[m.name] = m
	}
	for name := range s.Properties {
		if _, ok := byName[name]; !ok {
			t.Errorf("schema %s names %q, which %v does not have", st.schema, name, st.typ)
		}
	}
	if st.partial {
		return
	}
	for _, m := range members {
		if _, ok := s.Properties[m.name]; !ok {
			t.Errorf("%v member %q is not in schema %s", st.typ, m.name, st.schema)
			continue
		}
		if !st.response {
			continue
		}
		required := slices.Contains(s.Required, m.name)
		if m.always && !required {
			t.Errorf("schema %s: %q is always written by %v but not required", st.schema, m.name, st.typ)
		}
		if !m.always && required {
			t.Errorf("schema %s: %q is required but %v omits it when empty", st.schema, m.name, st.typ)
		}
	}
}

// lookupSchema finds a component schema, or an inline schema within one by
// a path such as "SelectorResult.records[]".
func lookupSchema(doc *openapi3.T, path string) *openapi3.SchemaRef {
	name, rest, _ := strings.Cut(path, ".")
	ref := doc.Components.Schemas[name]
	for _, step := range strings.Split(rest, ".") {
		if ref == nil || ref.Value == nil || step == "" {
			break
		}
		member, items := strings.CutSuffix(step, "[]")
		ref = ref.Value.Properties[member]
		if items && ref != nil && ref.Value != nil {
			ref = ref.Value.Items
		}
	}
	return ref
}

// TestOpenAPIQueryParameters: each operation documents exactly the query
// parameters its route accepts (httpapi.Route.Query: the list its handler
// enforces; any other parameter is a 400), and none where it reads none.
func TestOpenAPIQueryParameters(t *testing.T) {
	ct, err := gatewaytest.LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	withQuery := 0
	for _, rt := range append(httpapi.Routes(), gateway.AdminRoutes()...) {
		pi := ct.Doc.Paths.Find(rt.Path)
		if pi == nil || pi.GetOperation(rt.Method) == nil {
			continue // TestOpenAPIRoutes reports it
		}
		var documented []string
		for _, params := range []openapi3.Parameters{pi.Parameters, pi.GetOperation(rt.Method).Parameters} {
			for _, p := range params {
				if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
					documented = append(documented, p.Value.Name)
				}
			}
		}
		want := slices.Clone(rt.Query)
		if len(want) > 0 {
			withQuery++
		}
		slices.Sort(want)
		slices.Sort(documented)
		if !slices.Equal(documented, want) {
			t.Errorf("%s: document's query parameters %v, the gateway's %v", rt.Pattern(), documented, want)
		}
	}
	if withQuery < 4 {
		t.Errorf("only %d routes declare query parameters; the list endpoints (records, audit, consents, requests) all do", withQuery)
	}
}

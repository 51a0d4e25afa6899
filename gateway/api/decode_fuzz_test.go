package api_test

import (
	"encoding/json"
	"testing"

	"github.com/liaison-project/liaison/gateway/api"
)

// FuzzDecode: api.Decode reads what a gateway (or anything posing as one)
// answers. Whatever the bytes, it must not panic, and a body it accepts
// must hold what its Check promises and survive a round trip: encoded
// again and decoded, it is still accepted.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"rec_x","version":1,"digest":"sha256:ab","decision_id":"dec_x","policy_revision":"r"}`,
		`{"id":"rec_x","version":1,"meta":{},"content":{"a":[1,{"b":null}]},"handling":{"banner":"OFFICIAL","conditions":[],"originator_consent_required":false,"redacted":null},"decision_id":"dec_x","policy_revision":"r"}`,
		`{"items":[{"id":"rec_x","version":1,"meta":{},"banner":""}],"next_cursor":""}`,
		`{"consent_id":"con_x","state":"pending","record_id":"rec_x","recipients":["nca"],"reasons":[{"code":"c","message":"m","public":true}],"previous_refusals":[],"duplicate":false}`,
		`{"items":[{"consent_id":"con_x"}]}`,
		`{"decision":{"id":"dec_x","allow":true,"obligations":{}}}`,
		`{"gateway":"gw","items":[{"seq":1,"time":"2026-01-01T00:00:00Z"}],"next_after":"1"}`,
		`{"type":"https://liaison.dev/problems/not-found","title":"Not found","status":404,"errors":[{"pointer":"/meta","detail":"d"}]}`,
		`{"ready":true,"checks":{"store":"ok"},"policy_revision":"r"}`,
		`null`, `{}`, `[]`, `"\ud800"`, `{"id":"rec_x"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, newBody := range []func() api.Response{
			func() api.Response { return &api.Published{} },
			func() api.Response { return &api.Record{} },
			func() api.Response { return &api.RecordList{} },
			func() api.Response { return &api.Recalled{} },
			func() api.Response { return &api.Shared{} },
			func() api.Response { return &api.ConsentFiled{} },
			func() api.Response { return &api.ConsentList{} },
			func() api.Response { return &api.ConsentDecided{} },
			func() api.Response { return &api.DecisionResult{} },
			func() api.Response { return &api.AuditPage{} },
			func() api.Response { return &api.Health{} },
			func() api.Response { return &api.Readiness{} },
			func() api.Response { return &api.Problem{} },
			func() api.Response { return &api.InfoRequest{} },
			func() api.Response { return &api.InfoRequestList{} },
		} {
			v := newBody()
			if api.Decode(b, v) != nil {
				continue
			}
			if err := v.Check(); err != nil {
				t.Fatalf("%T accepted but fails its check: %v", v, err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T accepted but does not encode: %v", v, err)
			}
			if err := api.Decode(again, newBody()); err != nil {
				t.Fatalf("%T accepted, re-encoded as %s, then refused: %v", v, again, err)
			}
		}
	})
}

package shadow_test

import (
	"bytes"
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
)

// The behaviour of Shadow, Compare and Replay against edited candidate
// policies is tested in package policy_test (policy/shadow_test.go), which
// has the policy fixtures; these tests check the typed path and that a
// closed shadow leaves no goroutine behind.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestShadowDecidesTypedInputs: the gateway's typed input is answered by
// the live policy and compared; a candidate identical to the live policy
// changes nothing, and the input is recorded for replay.
func TestShadowDecidesTypedInputs(t *testing.T) {
	ctx := context.Background()
	live, err := policy.New(ctx, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	var report, inputs bytes.Buffer
	sh := shadow.New(live, live, shadow.Options{Report: &report, Inputs: &inputs})
	in := policy.Input{Action: policy.ActionDecide, Time: "2026-11-21T10:00:00Z", Subject: policy.Subject{AgencyID: "rocu-nw"}}
	d, err := sh.Decide(ctx, in)
	want, werr := live.Decide(ctx, in)
	if err != nil || werr != nil || d.Allow != want.Allow || d.Visible != want.Visible || d.Revision != want.Revision {
		t.Fatalf("shadow decided %+v (%v), live %+v (%v)", d, err, want, werr)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sh.Stats(); st.Compared != 1 || st.Changed != 0 || st.Dropped != 0 {
		t.Fatalf("stats = %+v, want one comparison, no change", st)
	}
	if report.Len() != 0 || !bytes.Contains(inputs.Bytes(), []byte(`"action":"policy.decide"`)) {
		t.Fatalf("report %q, inputs %q", report.String(), inputs.String())
	}
	// After Close the shadow still answers, from the live policy.
	if d, err := sh.Decide(ctx, in); err != nil || d.Revision != live.Revision() {
		t.Fatalf("after Close: %+v, %v", d, err)
	}
}

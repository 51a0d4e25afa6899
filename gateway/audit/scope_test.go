package audit

import "testing"

// TestScopeSees: an agency's scope covers entries where it acted,
// originated, controls or received, and entries under its agreements;
// nothing else, and node-level entries only for a federation scope.
func TestScopeSees(t *testing.T) {
	s := &Scope{Agency: "hmrc", DSAs: []string{"dsa-a"}}
	for _, tc := range []struct {
		name string
		ev   Event
		want bool
	}{
		{"acted", Event{Agency: "hmrc"}, true},
		{"originator", Event{Agency: "nca", Originator: "hmrc"}, true},
		{"controller", Event{Agency: "nca", ControllerID: "hmrc"}, true},
		{"recipient", Event{Agency: "nca", Recipients: []string{"x", "hmrc"}}, true},
		{"under its DSA", Event{Agency: "nca", DSAIDs: []string{"dsa-b", "dsa-a"}}, true},
		{"foreign", Event{Agency: "nca", Originator: "met", Recipients: []string{"rocu"}, DSAIDs: []string{"dsa-b"}}, false},
		{"node-level", Event{Operation: OpAlteration}, false},
	} {
		if got := s.Sees(&tc.ev); got != tc.want {
			t.Errorf("%s: Sees = %t, want %t", tc.name, got, tc.want)
		}
		f := Filter{Scope: s}
		if got := f.Match(&tc.ev); got != tc.want {
			t.Errorf("%s: Match = %t, want %t", tc.name, got, tc.want)
		}
	}
	if !(&Scope{All: true}).Sees(&Event{Operation: OpAlteration}) {
		t.Error("a federation scope does not see a node-level entry")
	}
}

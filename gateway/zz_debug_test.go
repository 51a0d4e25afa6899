package gateway_test

import (
	"fmt"
	"testing"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

func dumpFed(t *testing.T, f *gatewaytest.Federation) {
	for id, g := range f.Gateways {
		for _, e := range g.Audit() {
			fe := ""
			if e.Federation != nil {
				fe = fmt.Sprintf("%s %s %s %s", e.Federation.Direction, e.Federation.Type, e.Federation.Outcome, e.Federation.PeerGateway)
			}
			d := ""
			if e.Decision != nil {
				d = fmt.Sprintf("%v %v", e.Decision.Allow, e.Decision.Reasons)
			}
			t.Logf("%s: %s %s %d %s | %s | %s | %s", id, e.Operation, e.Action, e.Status, e.Agency, fe, d, e.Error)
		}
	}
}

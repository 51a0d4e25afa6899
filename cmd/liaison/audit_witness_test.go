package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// Two gateways witness each other: each fetches the other's signed audit
// checkpoint over the federation listener, checks it with the pinned audit
// key and a consistency proof from the last one, and records it in its own
// log; `audit verify` reports it from that log alone.
func TestFederatedGatewaysWitnessEachOther(t *testing.T) {
	fed := gatewaytest.StartFederation(t, gatewaytest.FederationOptions{
		Gateways: 2,
		Configure: func(_ string, cfg *config.Config) {
			cfg.Federation.WitnessInterval = 100 * time.Millisecond
			cfg.Audit.CheckpointInterval = 50 * time.Millisecond
		},
	})
	a, b := fed.Host("met-police"), fed.Host("hmrc")
	// Each gateway's own activity (a listing) grows its log, so that it
	// signs checkpoints for the other to witness.
	a.Client("met-police").MustDo("GET", "/v1/records", nil)
	b.Client("hmrc").MustDo("GET", "/v1/records", nil)

	// Witnessed at least twice: the second time with a verified proof.
	wait := func(env *gatewaytest.Env, peer string) []audit.Event {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got []audit.Event
			for _, e := range env.Audit() {
				if f := e.Federation; f != nil && f.Direction == "witnessed" && f.PeerGateway == peer {
					got = append(got, e)
				}
			}
			if len(got) >= 2 {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s witnessed %s %d times", env.Cfg.GatewayID, peer, len(got))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, c := range []struct {
		env  *gatewaytest.Env
		peer string
	}{{a, b.Cfg.GatewayID}, {b, a.Cfg.GatewayID}} {
		evs := wait(c.env, c.peer)
		first, second := evs[0].Federation, evs[1].Federation
		if first.Outcome != audit.WitnessConsistent || second.Outcome != audit.WitnessConsistent {
			t.Fatalf("%s: outcomes %s, %s (%s)", c.env.Cfg.GatewayID, first.Outcome, second.Outcome, evs[1].Error)
		}
		if !strings.HasPrefix(first.Checkpoint, audit.NoteOrigin(c.peer)+"\n") || first.TreeSize == 0 {
			t.Fatalf("%s: the entry does not hold %s's note: %+v", c.env.Cfg.GatewayID, c.peer, first)
		}
		if second.TreeSize <= first.TreeSize || second.Previous != first.Checkpoint {
			t.Fatalf("%s: the second checkpoint (%d) does not follow the first (%d)", c.env.Cfg.GatewayID, second.TreeSize, first.TreeSize)
		}
		// The proof in the entry re-checks offline against the two notes.
		older := audit.NoteCheckpoint{TreeSize: first.TreeSize, RootHash: first.RootHash}
		newer := audit.NoteCheckpoint{TreeSize: second.TreeSize, RootHash: second.RootHash}
		if err := audit.CheckConsistency(older, newer, second.ConsistencyProof); err != nil {
			t.Fatalf("%s: recorded proof: %v", c.env.Cfg.GatewayID, err)
		}
	}

	out, err := runAudit(t, "verify", "--dir", a.Cfg.Audit.Path, "--live", "--no-progress", "-o", "json")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	var res struct {
		OK   bool           `json:"ok"`
		Logs []audit.Report `json:"logs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Logs) != 1 {
		t.Fatalf("verify output: %v\n%s", err, out)
	}
	ws := res.Logs[0].Witness
	if !res.OK || len(ws) != 1 || ws[0].Gateway != b.Cfg.GatewayID || ws[0].Witnessed < 2 || ws[0].TreeSize == 0 || len(ws[0].Problems) != 0 {
		t.Fatalf("witness status: %+v", ws)
	}
	out, err = runAudit(t, "verify", "--dir", a.Cfg.Audit.Path, "--live", "--no-progress", "-o", "text")
	if err != nil || !strings.Contains(out, "witness "+b.Cfg.GatewayID+": ") || !strings.Contains(out, "checkpoints witnessed, last at tree size") {
		t.Fatalf("verify text: %v\n%s", err, out)
	}
}

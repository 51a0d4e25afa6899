package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/record"
)

// The ledger: what this gateway sent and received, kept in its own object
// store (so any replica continues after a crash), every object signed with
// the gateway key like record metadata (the store is untrusted), and never
// rewritten in place: a message is queued by creating its outbox object
// (conditional PUT: the sequence number is claimed by whoever creates it),
// and settled by creating its "sent" object. Nothing here needs
// compare-and-swap.
//
//	federation/outbox/<peer>/<seq>        outItem: the message to send (no content)
//	federation/sent/<peer>/<seq>          sentItem: its final outcome and the receiver's receipt
//	federation/edges/<record>/<peer>.<seq> marker: a message about the record went to peer
//	federation/inbox/<peer>/<message id>  inItem: what we answered a peer's message
//	federation/acks/<record>/<gateway>     ackItem: a downstream gateway's recall receipt
//
// and, for reconciliation (reconcile.go), federation/inseq/<peer>/<seq>.<id>
// (received messages by the sender's seq), federation/reconciled/<peer>
// (the compared-up-to watermark) and federation/repairs/<peer>/<seq>
// (messages queued again).

const (
	outboxFormat = "liaison.fed.outbox/v1"
	sentFormat   = "liaison.fed.sent/v1"
	inboxFormat  = "liaison.fed.inbox/v1"
	ackFormat    = "liaison.fed.ack/v1"
	seqWidth     = 20
)

// outItem is a queued message: the envelope to sign (its payload digest is
// filled at send time from the pinned metadata and the record's content,
// which no version changes, so every attempt signs the same bytes) and, for
// a share, the metadata of the version it delivers.
type outItem struct {
	Format   string       `json:"format"`
	Envelope Envelope     `json:"envelope"`
	Meta     *record.Meta `json:"meta,omitempty"`
	// Upstream is, for a recall this gateway forwards, the gateway and
	// recall message it came from: acknowledgements go back there.
	Upstream *upstreamRef `json:"upstream,omitempty"`
}

type upstreamRef struct {
	Gateway   string `json:"gateway"`
	MessageID string `json:"message_id"`
}

// sentItem settles a queued message.
type sentItem struct {
	Format  string         `json:"format"`
	Outcome string         `json:"outcome"` // a receipt outcome, or "failed"
	Receipt string         `json:"receipt,omitempty"`
	Reasons []PublicReason `json:"reasons,omitempty"`
	Time    string         `json:"time"`
	Error   string         `json:"error,omitempty"`
	// Downstream repeats the receipt's list (recalls).
	Downstream []string `json:"downstream,omitempty"`
}

// inItem is the answer given to a peer's message, replayed to a duplicate.
type inItem struct {
	Format         string `json:"format"`
	EnvelopeDigest string `json:"envelope_digest"`
	Receipt        string `json:"receipt"`
}

// ackItem is a downstream gateway's recall acknowledgement.
type ackItem struct {
	Format  string `json:"format"`
	Gateway string `json:"gateway"`
	Via     string `json:"via"`
	Receipt string `json:"receipt"`
	// Verified: the receipt's signature was checked (the gateway is our
	// peer); otherwise it is kept as relayed.
	Verified bool   `json:"verified"`
	Time     string `json:"time"`
}

// outcomeFailed: a share given up after federation.give_up.
const outcomeFailed = "failed"

func seqName(seq uint64) string                { return fmt.Sprintf("%0*d", seqWidth, seq) }
func outboxPrefix(peer string) string          { return "federation/outbox/" + peer + "/" }
func outboxKey(peer string, seq uint64) string { return outboxPrefix(peer) + seqName(seq) }
func sentKey(peer string, seq uint64) string   { return "federation/sent/" + peer + "/" + seqName(seq) }
func sentPrefix(peer string) string            { return "federation/sent/" + peer + "/" }
func edgePrefix(id string) string              { return "federation/edges/" + id + "/" }
func edgeKey(id, peer string, seq uint64) string {
	return edgePrefix(id) + peer + "." + seqName(seq)
}
func inboxKey(peer, msgID string) string { return "federation/inbox/" + peer + "/" + msgID }
func ackPrefix(id string) string         { return "federation/acks/" + id + "/" }
func ackKey(id, gateway string) string   { return ackPrefix(id) + gateway }

func parseSeq(key, prefix string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok || len(s) != seqWidth {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// parseEdge reads "<peer>.<seq>" from an edge key.
func parseEdge(key, prefix string) (peer string, seq uint64, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", 0, false
	}
	peer, s, ok := strings.Cut(rest, ".")
	if !ok || len(s) != seqWidth {
		return "", 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return peer, n, err == nil
}

// ledger reads and writes the signed ledger objects.
type ledger struct {
	store  objstore.Store
	signer Signer
}

func (l *ledger) put(ctx context.Context, key string, v any, ifAbsent bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	jws, err := l.signer.Sign(b)
	if err != nil {
		return err
	}
	return l.store.Put(ctx, key, jws, objstore.PutOptions{IfAbsent: ifAbsent, ContentType: "application/jose"})
}

// errLedgerTampered: a ledger object whose signature or format does not
// verify (edited or moved in the untrusted store).
var errLedgerTampered = errors.New("federation: ledger object failed integrity checks")

func (l *ledger) get(ctx context.Context, key, format string, v any) error {
	b, err := l.store.Get(ctx, key)
	if err != nil {
		return err
	}
	payload, err := l.signer.Verify(b)
	if err != nil {
		return fmt.Errorf("%w: %s", errLedgerTampered, key)
	}
	var head struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(payload, &head) != nil || head.Format != format {
		return fmt.Errorf("%w: %s", errLedgerTampered, key)
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %s", errLedgerTampered, key)
	}
	return nil
}

// listAll lists every key under prefix, in order.
func (l *ledger) listAll(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	after := ""
	for {
		keys, err := l.store.List(ctx, prefix, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if len(keys) < 1000 {
			return out, nil
		}
		after = keys[len(keys)-1]
	}
}

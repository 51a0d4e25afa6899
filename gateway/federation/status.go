package federation

import (
	"context"
	"errors"

	"github.com/liaison-project/liaison/connectors/objstore"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/policy"
)

// Deliveries reports where record id went beyond this gateway: every
// message queued about it, with the receiver's answer, and the recall
// acknowledgements of gateways further downstream.
func (s *Service) Deliveries(ctx context.Context, id string) (*api.Deliveries, error) {
	out := &api.Deliveries{RecordID: id, Items: []api.Delivery{}}
	keys, err := s.ledger.listAll(ctx, edgePrefix(id))
	if err != nil {
		return nil, err
	}
	downstream := map[string]string{} // gateway -> via, named by recall receipts
	for _, k := range keys {
		peer, seq, ok := parseEdge(k, edgePrefix(id))
		if !ok {
			continue
		}
		var it outItem
		if err := s.ledger.get(ctx, outboxKey(peer, seq), outboxFormat, &it); err != nil {
			return nil, err
		}
		if it.Envelope.Type == TypeRecallAck {
			continue
		}
		d := api.Delivery{Gateway: peer, Type: it.Envelope.Type, Agencies: orEmpty(it.Envelope.ToAgencies),
			MessageID: it.Envelope.ID, Seq: seq, State: "pending", Queued: it.Envelope.Created}
		var st sentItem
		switch err := s.ledger.get(ctx, sentKey(peer, seq), sentFormat, &st); {
		case err == nil:
			d.State, d.Receipt, d.Error, d.Settled = stateOf(it.Envelope.Type, st.Outcome), st.Receipt, st.Error, st.Time
			for _, r := range st.Reasons {
				d.Reasons = append(d.Reasons, policy.Reason{Code: r.Code, Message: r.Message, Public: true})
			}
			for _, g := range st.Downstream {
				downstream[g] = peer
			}
		case errors.Is(err, objstore.ErrNotFound):
			if snd := s.sender(peer); snd != nil {
				snd.mu.Lock()
				d.Error = snd.lastError
				snd.mu.Unlock()
			}
		default:
			return nil, err
		}
		out.Items = append(out.Items, d)
	}
	acks, err := s.ledger.listAll(ctx, ackPrefix(id))
	if err != nil {
		return nil, err
	}
	for _, k := range acks {
		var a ackItem
		if err := s.ledger.get(ctx, k, ackFormat, &a); err != nil {
			return nil, err
		}
		delete(downstream, a.Gateway)
		out.Items = append(out.Items, api.Delivery{Gateway: a.Gateway, Type: TypeRecall, Agencies: []string{}, State: "acknowledged",
			Receipt: a.Receipt, Via: a.Via, Verified: a.Verified, Settled: a.Time})
	}
	// A gateway holding a copy that is no longer a peer cannot be sent a
	// recall: say so rather than show nothing.
	seen := map[string]bool{}
	for _, it := range out.Items {
		if it.Via == "" && !seen[it.Gateway] && s.sender(it.Gateway) == nil {
			seen[it.Gateway] = true
			out.Items = append(out.Items, api.Delivery{Gateway: it.Gateway, Type: TypeRecall, Agencies: []string{}, State: "pending",
				Error: "no longer a peer of this gateway: messages to it (a recall included) cannot be sent until it is declared again"})
		}
	}
	for g, via := range downstream {
		out.Items = append(out.Items, api.Delivery{Gateway: g, Type: TypeRecall, Agencies: []string{}, State: "pending", Via: via})
	}
	return out, nil
}

// stateOf names a settled message's state as the API shows it.
func stateOf(typ, outcome string) string {
	switch {
	case outcome == outcomeFailed:
		return "failed"
	case outcome == OutcomeRefused:
		return "refused"
	case typ == TypeShare && outcome == OutcomeAccepted:
		return "delivered"
	case typ == TypeShare && outcome == OutcomeRecalled:
		return "recalled"
	case typ == TypeRecall && outcome == OutcomeRecalled:
		return "acknowledged"
	}
	return outcome
}

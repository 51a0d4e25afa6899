package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/liaison-project/liaison/gateway/api"
)

// DSA changes.
const (
	ChangeActivate  = "activate"
	ChangeSuspend   = "suspend"
	ChangeTerminate = "terminate"
	ChangeRenew     = "renew"
	ChangeAdd       = "add"
	ChangeRemove    = "remove"
)

// DSAView is an agreement as the policy in force on this replica holds
// it, the registry's state laid over the policy data.
func (r *Registry) DSAView(id string) (api.RegistryDSA, bool) {
	d, ok := r.o.Policy.DSA(id)
	if !ok {
		return api.RegistryDSA{}, false
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	v := api.RegistryDSA{ID: id, Title: str("title"), Version: str("version"), Status: str("status"),
		ReviewDate: str("review_date"), ExpiryDate: str("expiry_date"), Parties: []string{}, Purposes: []string{}}
	if ps, ok := d["purposes"].([]any); ok {
		for _, p := range ps {
			if s, ok := p.(string); ok {
				v.Purposes = append(v.Purposes, s)
			}
		}
	}
	if ps, ok := d["parties"].([]any); ok {
		for _, p := range ps {
			if m, ok := p.(map[string]any); ok {
				if org, ok := m["org_id"].(string); ok {
					v.Parties = append(v.Parties, org)
				}
			}
		}
	}
	_, v.Changed = r.cur.Load().DSAs[id]
	return v, true
}

// DSAList is every agreement in force on this replica.
func (r *Registry) DSAList() api.RegistryDSAs {
	out := api.RegistryDSAs{Items: []api.RegistryDSA{}, Version: r.cur.Load().Seq}
	for _, id := range r.o.Policy.DSAs() {
		if v, ok := r.DSAView(id); ok {
			out.Items = append(out.Items, v)
		}
	}
	return out
}

// ChangeDSA activates, suspends, terminates or renews an agreement (renew
// takes req). Termination is final; a renewal needs a later expiry date.
func (r *Registry) ChangeDSA(ctx context.Context, who Who, id, change string, req *api.DSARenew, before Before) (Change, error) {
	if change == ChangeRenew {
		if err := checkRenew(req); err != nil {
			return Change{Kind: "dsa", ID: id, Change: change}, err
		}
	}
	return r.commit(ctx, who, before, func(next *State) (Change, error) {
		ch := Change{Kind: "dsa", ID: id, Change: change}
		cur, ok := r.DSAView(id)
		if !ok {
			return ch, fmt.Errorf("%w: no agreement %s", ErrNotFound, id)
		}
		st := next.DSAs[id]
		ch.Old = cur.Status
		if cur.Status == StatusTerminated {
			return ch, fmt.Errorf("%w: agreement %s is terminated; termination is final (make a new agreement)", ErrConflict, id)
		}
		switch change {
		case ChangeActivate, ChangeSuspend, ChangeTerminate:
			to := map[string]string{ChangeActivate: StatusActive, ChangeSuspend: StatusSuspended, ChangeTerminate: StatusTerminated}[change]
			ch.New = to
			if cur.Status == to {
				ch.Unchanged = true
				return ch, nil
			}
			st.Status = to
		case ChangeRenew:
			ch.Old, ch.New = "expiry "+cur.ExpiryDate, "expiry "+req.ExpiryDate
			if req.ExpiryDate <= cur.ExpiryDate {
				return ch, &FieldError{Pointer: "/expiry_date", Detail: fmt.Sprintf("a renewal needs an expiry date after the current one (%s)", cur.ExpiryDate)}
			}
			st.ExpiryDate = req.ExpiryDate
			if req.ReviewDate != "" {
				st.ReviewDate = req.ReviewDate
			}
			if req.Version != "" {
				if req.Version == cur.Version {
					return ch, &FieldError{Pointer: "/version", Detail: "a renewal's version must differ from the current one (" + cur.Version + ")"}
				}
				st.Version = req.Version
			}
		default:
			return ch, fmt.Errorf("%w: unknown change %q", ErrNotFound, change)
		}
		next.DSAs[id] = st
		return ch, nil
	})
}

func checkRenew(req *api.DSARenew) error {
	if req == nil {
		return &FieldError{Pointer: "", Detail: `body must be {"expiry_date": "YYYY-MM-DD", "review_date": "YYYY-MM-DD", "version": "..."}`}
	}
	exp, err := time.Parse(time.DateOnly, req.ExpiryDate)
	if err != nil {
		return &FieldError{Pointer: "/expiry_date", Detail: "expiry_date must be a date YYYY-MM-DD"}
	}
	if req.ReviewDate != "" {
		rev, err := time.Parse(time.DateOnly, req.ReviewDate)
		if err != nil {
			return &FieldError{Pointer: "/review_date", Detail: "review_date must be a date YYYY-MM-DD"}
		}
		if rev.After(exp) {
			return &FieldError{Pointer: "/review_date", Detail: "review_date must not be after expiry_date"}
		}
	}
	if len(req.Version) > 32 || (req.Version != "" && !printable(req.Version)) {
		return &FieldError{Pointer: "/version", Detail: "version must be printable text of 1 to 32 characters"}
	}
	return nil
}

func printable(s string) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

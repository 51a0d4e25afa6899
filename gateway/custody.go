package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/liaison-project/liaison/connectors/keys"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/record"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// Key custody operations change what can ever be read again, so each one
// leaves an entry in an audit log, written durably before the operation
// starts (and corrected if it then fails), naming the custodian, the key
// and the records affected. A custody command that cannot write its entry
// does nothing.
//
// The entries go to the custody log (CustodyLogPath: the node's audit
// directory with "-custody" appended), a log of the same format, signed
// with the same audit key under the gateway id + "-custody". Not the
// node's own log: that has exactly one writer, the running gateway, and a
// custodian rotating or rewrapping Vault keys must not have to stop a node
// for it (a rewrap of a large store takes long).

const maxCustodianLen = 128

// SetCustodian names who runs the key operations and why; both go into the
// audit entry of each operation. An empty id is the operating-system user
// and host ("os:alice@host"), so that an entry never lacks an identity.
func (k *KeyOps) SetCustodian(id, reason string) error {
	id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
	if id == "" {
		id = osIdentity()
	}
	if len(id) > maxCustodianLen || !record.Printable(id) {
		return fmt.Errorf("custodian must be printable text of at most %d bytes", maxCustodianLen)
	}
	if len(reason) > record.MaxJustification || !record.Printable(reason) {
		return fmt.Errorf("reason must be printable text of at most %d bytes", record.MaxJustification)
	}
	k.custodian, k.reason = id, reason
	return nil
}

func osIdentity() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	return "os:" + name + "@" + host
}

// CustodyLogPath is where key custody operations of cfg's gateway are
// audited.
func CustodyLogPath(cfg config.Config) string {
	return filepath.Clean(audit.LogDir(cfg.Audit.Path)) + "-custody"
}

// custodyLog is the custody log, opened on first use. It is single-writer
// like every audit log: while another custody command runs, opening fails
// and the operation is not done.
func (k *KeyOps) custodyLog() (*audit.Log, error) {
	if k.audit != nil {
		return k.audit, nil
	}
	opts := config.AuditOptions(k.cfg)
	opts.Gateway = k.cfg.GatewayID + "-custody"
	path := CustodyLogPath(k.cfg)
	l, err := audit.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("custody audit log %s: %w (key custody operations are audited before they act; nothing was changed)", path, err)
	}
	k.audit = l
	k.b.closers = append(k.b.closers, l.Close)
	return l, nil
}

// custodyEntry appends the entry for one operation before it runs (or,
// with the id of the run it belongs to, the entry saying what it did).
func (k *KeyOps) custodyEntry(ctx context.Context, requestID, action, op, agency, dsa string, c *audit.Custody) (*audit.Event, error) {
	l, err := k.custodyLog()
	if err != nil {
		return nil, err
	}
	if k.custodian == "" {
		if err := k.SetCustodian("", ""); err != nil {
			return nil, err
		}
	}
	if requestID == "" {
		requestID = audit.NewRequestID()
	}
	ev := &audit.Event{
		Time: audit.Now(), Gateway: k.cfg.GatewayID + "-custody", RequestID: requestID, Operation: op, Action: action,
		Status: http.StatusOK, Officer: k.custodian, Originator: agency, ControllerID: agency,
		Justification: k.reason, Custody: c,
	}
	if dsa != "" {
		ev.DSAIDs = []string{dsa}
	}
	if err := l.Append(ctx, ev); err != nil {
		return nil, fmt.Errorf("audit: %w (nothing was changed)", err)
	}
	return ev, nil
}

// custodyFailed corrects the entry of an operation that did not complete.
// The correction is best effort: the operation's own error is what the
// custodian is shown.
func (k *KeyOps) custodyFailed(ctx context.Context, orig *audit.Event, cause error) {
	ev := &audit.Event{
		Time: audit.Now(), Gateway: orig.Gateway, RequestID: orig.RequestID, Operation: orig.Operation, Action: orig.Action,
		Status: http.StatusInternalServerError, Officer: orig.Officer, Originator: orig.Originator, ControllerID: orig.ControllerID,
		DSAIDs: orig.DSAIDs, Custody: orig.Custody, Corrects: orig.Seq, Error: "not completed: " + cause.Error(),
	}
	if err := k.audit.Append(context.WithoutCancel(ctx), ev); err != nil {
		k.log.Error("audit correction of a key operation failed")
	}
}

func custodyScope(agency, dsa string) string {
	switch {
	case agency == "":
		return "all agencies"
	case dsa == "":
		return "agency " + agency
	default:
		return "agency " + agency + ", dsa " + dsa
	}
}

// countUnder counts the readable records whose data key is wrapped under
// key name with a version below below (0: any version) — the records a
// shred or a destruction makes permanently unreadable. A record that does
// not verify is not counted: it is unreadable already.
func (k *KeyOps) countUnder(ctx context.Context, name string, below int) (int, error) {
	ids, err := k.rs.IDs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		rec, err := k.rs.Load(ctx, id)
		if errors.Is(err, recordstore.ErrNotFound) || errors.Is(err, recordstore.ErrTampered) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("record %s: %w", id, err)
		}
		if rec.State != recordstore.StateActive || rec.Content == nil || rec.Content.KeyName != name {
			continue
		}
		if below > 0 {
			if wv, ok := k.b.provider.(keys.WrappedVersion); ok {
				if v, err := wv.WrappedVersion(rec.Content.WrappedKey); err == nil && v >= below {
					continue
				}
			}
		}
		n++
	}
	return n, nil
}

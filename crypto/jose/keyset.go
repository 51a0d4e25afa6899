package jose

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/liaison-project/liaison/crypto/identity"
)

// KeySetChange says what a reload did to one agency's officer-token keys.
type KeySetChange string

// Reload outcomes reported to the observer.
const (
	// KeySetAdded: a new agency file loaded; its officers' tokens verify from now on.
	KeySetAdded KeySetChange = "added"
	// KeySetReplaced: an agency's file changed and the new keys loaded.
	KeySetReplaced KeySetChange = "replaced"
	// KeySetRemoved: the agency's file is gone; its tokens no longer verify.
	KeySetRemoved KeySetChange = "removed"
	// KeySetFailed: a file (or the directory) could not be read or parsed.
	// The agency keeps the keys it had before, if any.
	KeySetFailed KeySetChange = "failed"
)

// KeySetEvent is one change found by Reload. Agency is empty when the
// directory itself failed. Err never holds key material.
type KeySetEvent struct {
	Agency string
	File   string
	Change KeySetChange
	// KeptPrevious: a failed file left the agency's earlier keys in force.
	KeptPrevious bool
	Err          error
}

// WithKeySetObserver is called (synchronously, under the reload lock) for
// every change a reload finds; the gateway logs and counts them. A file whose
// content did not change since the previous attempt reports nothing again,
// so a poller does not repeat the same failure every tick.
func WithKeySetObserver(f func(KeySetEvent)) VerifierOption {
	return func(v *OfficerVerifier) { v.reload.observe = f }
}

// reloadState is what Reload remembers between runs.
type reloadState struct {
	observe func(KeySetEvent)
	// last holds, per file path, the digest of the content last tried and
	// the error it gave (nil: it loaded).
	last map[string]fileAttempt
}

type fileAttempt struct {
	digest [32]byte
	err    error
}

// Reload reads <dir>/<agency>.json again, agency by agency, and fails safe:
//   - a new or changed file that loads replaces that agency's keys;
//   - a file that cannot be read or parsed leaves that agency's previous keys
//     in force (and is reported), it never clears them;
//   - a file that is gone removes the agency's keys: deleting the file is how
//     an operator withdraws an agency's officer-token keys;
//   - an unreadable directory changes nothing.
//
// The other agencies are unaffected by one agency's bad file. The error
// joins every failure, naming the files; nil means every file loaded.
func (v *OfficerVerifier) Reload() error {
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	rs := &v.reload
	entries, err := os.ReadDir(v.dir)
	if err != nil {
		err = fmt.Errorf("jose: officer key sets: %w", err)
		v.notify(KeySetEvent{File: v.dir, Change: KeySetFailed, KeptPrevious: true, Err: err})
		return err
	}
	prev := map[string]jwk.Set{}
	if p := v.sets.Load(); p != nil {
		prev = *p
	}
	next := make(map[string]jwk.Set, len(prev))
	attempts := make(map[string]fileAttempt, len(entries))
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		agency := strings.TrimSuffix(name, ".json")
		path := filepath.Join(v.dir, name)
		set, digest, err := loadSetFile(path, agency)
		old, had := prev[agency]
		lastTry, tried := rs.last[path]
		unchanged := tried && lastTry.digest == digest && (lastTry.err == nil) == (err == nil)
		attempts[path] = fileAttempt{digest: digest, err: err}
		if err != nil {
			errs = append(errs, err)
			if had {
				next[agency] = old // fail safe: keep what verified before
			}
			if !unchanged {
				v.notify(KeySetEvent{Agency: agency, File: path, Change: KeySetFailed, KeptPrevious: had, Err: err})
			}
			continue
		}
		if had && unchanged {
			next[agency] = old // same bytes as the last successful load
			continue
		}
		next[agency] = set
		change := KeySetAdded
		if had {
			change = KeySetReplaced
		}
		v.notify(KeySetEvent{Agency: agency, File: path, Change: change})
	}
	for agency := range prev {
		if _, still := next[agency]; !still {
			v.notify(KeySetEvent{Agency: agency, File: filepath.Join(v.dir, agency+".json"), Change: KeySetRemoved})
		}
	}
	rs.last = attempts
	v.sets.Store(&next)
	return errors.Join(errs...)
}

func (v *OfficerVerifier) notify(ev KeySetEvent) {
	if v.reload.observe != nil {
		v.reload.observe(ev)
	}
}

// loadSetFile reads and checks one agency's key set. The digest is of the
// bytes read (zero if unreadable), so an unchanged bad file is recognised.
func loadSetFile(path, agency string) (jwk.Set, [32]byte, error) {
	var digest [32]byte
	if !identity.ValidID(agency) {
		return nil, digest, fmt.Errorf("jose: officer key set %s: file name is not an agency id", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, digest, fmt.Errorf("jose: officer key set: %w", err)
	}
	digest = sha256.Sum256(data)
	set, err := parsePublicSet(data)
	if err != nil {
		return nil, digest, fmt.Errorf("jose: officer key set %s: %w", path, err)
	}
	return set, digest, nil
}

// Watch re-reads the key sets every interval until ctx ends, so that an
// agency added (or withdrawn) at run time takes effect without a restart.
// Reload reports what changed through the observer; its error is not
// returned here because the previous keys stay in force. interval <= 0
// disables watching. Watch returns at once.
func (v *OfficerVerifier) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = v.Reload()
			}
		}
	}()
}

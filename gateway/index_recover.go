package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/liaison-project/liaison/gateway/audit"
)

// indexState is the listing index's recovery point, kept in the audit log
// directory of this gateway node: every index entry added before Through
// is in the store; Clean says the gateway stopped after writing all of them.
type indexState struct {
	Through time.Time `json:"flushed_through"`
	Clean   bool      `json:"clean"`
}

const indexStateFile = "index-state.json"

func readIndexState(dir string) (indexState, bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return indexState{}, false, nil
	}
	if err != nil {
		return indexState{}, false, err
	}
	var st indexState
	if err := json.Unmarshal(b, &st); err != nil {
		// Unreadable state: recover from the whole log rather than guess.
		return indexState{}, false, nil
	}
	return st, true, nil
}

// writeIndexState replaces the state file atomically.
func writeIndexState(dir string, st indexState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, indexStateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, indexStateFile))
}

// recoverFromAudit re-adds the index entries that a crash may have lost:
// those of publishes and shares whose audit entries are later than the
// recovery point less slack (an entry's audit time precedes its add by up
// to the audit write deadline). The audit log is the journal: an entry is
// added only after its audit entry is durable, so every entry that might
// be missing is found there. Re-adding one that was written is harmless:
// entries are candidates and listings skip duplicates. It returns how many
// records it re-indexed.
func (ix *readerIndex) recoverFromAudit(ctx context.Context, dir string, slack time.Duration) (int, error) {
	st, ok, err := readIndexState(dir)
	if err != nil {
		return 0, fmt.Errorf("index state: %w", err)
	}
	if ok && st.Clean {
		return 0, writeIndexState(dir, indexState{Through: st.Through})
	}
	var since time.Time
	if ok {
		since = st.Through.Add(-slack)
	}
	n := 0
	err = audit.Scan(dir, func(ev *audit.Event, _ []byte) error {
		if ev.Time.Before(since) || ev.Corrects != 0 || len(ev.RecordIDs) != 1 {
			return nil
		}
		var readers []string
		switch {
		case ev.Operation == audit.OpCollection && ev.Action == "record.publish" && ev.Status == 201:
			readers = append([]string{ev.Originator}, ev.Recipients...)
		case ev.Operation == audit.OpDisclosure && (ev.Action == "record.share" || ev.Action == "consent.approve") && ev.Status == 200:
			readers = ev.Recipients
		default:
			return nil
		}
		ix.mu.Lock()
		for _, a := range readers {
			if a != "" {
				ix.pending[a] = append(ix.pending[a], ev.RecordIDs[0])
			}
		}
		ix.mu.Unlock()
		n++
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("index recovery: read the audit log: %w", err)
	}
	if err := ix.flush(ctx); err != nil {
		return 0, fmt.Errorf("index recovery: %w", err)
	}
	return n, writeIndexState(dir, indexState{Through: st.Through})
}

package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadRecoveries: recoveries.jsonl sits in the log directory, where
// whoever can damage the log can also write it; Verify reads it. Whatever
// it holds, reading it returns records or an error, never panics, and never
// reads evidence outside the directory.
func FuzzReadRecoveries(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-06T04:38:07Z","failure":{"kind":"entry","segment":"segment-000002.jsonl","line":5,"seq":25,"reason":"x"},"kept_entries":24,"checkpoints_moved":1,"evidence":[{"file":"damaged-x.bin","bytes":3,"sha256":"sha256:00"}],"new_segment":"segment-000003.jsonl","seq":25}` + "\n"))
	f.Add([]byte(`{"evidence":[{"file":"../../etc/passwd"}]}`))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte(`{"failure":null,"evidence":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, recoveriesFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		recs, err := readRecoveries(dir)
		if err != nil {
			return
		}
		for _, r := range recs {
			_ = r.Explain()
			for _, e := range r.Evidence {
				if e.Present && e.File != filepath.Base(e.File) {
					t.Fatalf("evidence outside the directory accepted: %q", e.File)
				}
			}
		}
	})
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/backup"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

func newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up a gateway while it runs, check an archive, restore it onto a new node",
		Long: `One archive (tar.gz) holds what a gateway node cannot be rebuilt without: its
configuration file, keys and certificates, policy files, the audit log and
every object of the record store, with a manifest of SHA-256 digests. The
index database is not in it: restore rebuilds it from the store.

The archive holds private keys (the gateway signing key, the audit key and,
with the local key provider, the key ring that unwraps every record): keep
it encrypted and apart from the store. With Vault, back up Vault itself.

  liaison backup create  --config /var/lib/liaison/liaison.yaml --out backup.tar.gz
  liaison backup verify  backup.tar.gz
  liaison backup restore backup.tar.gz --data-dir /var/lib/liaison-restored
  liaison backup restore backup.tar.gz --config /etc/liaison/new-node.yaml

See docs/operations.md.`,
	}
	cmd.AddCommand(newBackupCreateCmd(), newBackupVerifyCmd(), newBackupRestoreCmd())
	return cmd
}

type backupFlags struct {
	config, dataDir, output string
}

func (f *backupFlags) json() bool {
	return f.output == "json" || (f.output == "auto" && !term.IsTerminal(int(os.Stdout.Fd())))
}

// progressFor draws a bar on stderr for people; nothing for machines.
func progressFor(jsonOut bool, what string) (func(backup.Progress), func()) {
	if jsonOut || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions(-1, progressbar.OptionSetDescription(what), progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	phase := ""
	return func(p backup.Progress) {
			if p.Phase != phase {
				phase = p.Phase
				bar.Describe(what + ": " + phase)
			}
			_ = bar.Set(p.Done)
		}, func() {
			_ = bar.Finish()
		}
}

func newBackupCreateCmd() *cobra.Command {
	var f backupFlags
	var out string
	cmd := &cobra.Command{
		Use:   "create --config liaison.yaml --out FILE",
		Short: "Write a consistent backup archive (the gateway may keep running)",
		Long: `Copies the record store object by object, then the key and certificate
files, then the audit log (note, checkpoints, segments: each cut after its
last complete line), so that every record state in the archive has its audit
entry and its key in the archive. The copied audit log is verified before the
manifest is written; a log that does not verify is not backed up silently.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required (the archive to write, e.g. backup.tar.gz)")
			}
			cfg, err := f.load()
			if err != nil {
				return err
			}
			log, err := newLogger("console", "warn")
			if err != nil {
				return err
			}
			st, closeStore, err := gateway.OpenRecordStore(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			defer closeStore() //nolint:errcheck
			// Written beside the target and renamed into place only when
			// complete, so a half-written archive never carries the name.
			tmp, err := os.CreateTemp(filepath.Dir(out), ".liaison-backup-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			progress, done := progressFor(f.json(), "backing up")
			m, err := backup.Create(cmd.Context(), backup.CreateOptions{Config: cfg, ConfigPath: f.config, Store: st, Out: tmp, Progress: progress})
			done()
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp.Name(), out)
			}
			if err != nil {
				return err
			}
			summary := map[string]any{"archive": out, "gateway_id": m.GatewayID, "objects": m.Store.Objects, "store_sha256": m.Store.SHA256,
				"files": len(m.Files), "audit_entries": m.Audit.Entries, "audit_root": m.Audit.RootHash, "notes": m.Notes}
			text := fmt.Sprintf("backup of %s written to %s: %d store objects (%d bytes), %d files, audit log of %d entries (root %s)",
				m.GatewayID, out, m.Store.Objects, m.Store.Bytes, len(m.Files), m.Audit.Entries, short(m.Audit.RootHash))
			for _, n := range m.Notes {
				text += "\n  note: " + n
			}
			printResult(f.json(), summary, text)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway to back up (default $LIAISON_CONFIG)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	cmd.Flags().StringVar(&out, "out", "", "archive to write (tar.gz)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
	return cmd
}

func (f *backupFlags) load() (config.Config, error) {
	if f.config == "" {
		f.config = os.Getenv("LIAISON_CONFIG")
	}
	if f.config == "" {
		return config.Config{}, errors.New("--config is required (the gateway's liaison.yaml)")
	}
	return config.Load(f.config, f.dataDir, os.Environ())
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func newBackupVerifyCmd() *cobra.Command {
	var f backupFlags
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE",
		Short: "Check an archive: every entry against the manifest, the audit log verifies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := stageArchive(args[0], os.TempDir())
			if err != nil {
				return err
			}
			defer s.Close()
			m := s.Manifest
			summary := map[string]any{"ok": true, "gateway_id": m.GatewayID, "created": m.Created, "objects": m.Store.Objects,
				"files": len(m.Files), "audit_entries": m.Audit.Entries, "audit_root": m.Audit.RootHash, "liaison": m.Liaison}
			printResult(f.json(), summary, fmt.Sprintf("OK: backup of %s taken %s by liaison %s: %d store objects, %d files, audit log of %d entries verifies (root %s)",
				m.GatewayID, m.Created.Format("2006-01-02 15:04:05Z"), m.Liaison.Version, m.Store.Objects, len(m.Files), m.Audit.Entries, short(m.Audit.RootHash)))
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
	return cmd
}

func stageArchive(path, parent string) (*backup.Staged, error) {
	a, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return backup.Stage(io.Reader(a), parent)
}

func newBackupRestoreCmd() *cobra.Command {
	var f backupFlags
	var noIndex bool
	cmd := &cobra.Command{
		Use:   "restore ARCHIVE (--data-dir DIR | --config liaison.yaml)",
		Short: "Restore an archive onto a new node, then rebuild its index",
		Long: `Checks the archive first (digests, audit log), then writes every file where
the target configuration says and every object into the target store, and
rebuilds the index from the store. It never overwrites: target files must
not exist and the target store must be empty.

--data-dir DIR   the archived liaison.yaml with every path under its old
                 directory moved under DIR, written to DIR/liaison.yaml
                 (the layout of 'liaison dev' and of most single nodes);
--config FILE    the new node's own configuration, already written: files
                 go where it says (production, a new host or bucket).

Start the node with 'liaison serve --config DIR/liaison.yaml' (or 'liaison dev
--data-dir DIR'); its audit log continues the restored one.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (f.config == "") == (f.dataDir == "") {
				return errors.New("give exactly one of --data-dir (a new data directory) or --config (the new node's liaison.yaml)")
			}
			parent := f.dataDir
			if parent == "" {
				parent = filepath.Dir(f.config)
			}
			parent, err := filepath.Abs(parent)
			if err != nil {
				return err
			}
			s, err := stageArchive(args[0], parent)
			if err != nil {
				return err
			}
			defer s.Close()
			o := backup.RestoreOptions{}
			if f.dataDir != "" {
				if o.Target, o.ConfigYAML, err = s.RebasedConfig(parent, os.Environ()); err != nil {
					return err
				}
				o.ConfigPath = filepath.Join(parent, "liaison.yaml")
				o.RebaseFrom = s.Manifest.BaseDir
			} else {
				if o.Target, err = config.Load(f.config, filepath.Dir(f.config), os.Environ()); err != nil {
					return err
				}
				o.ConfigPath, _ = filepath.Abs(f.config)
			}
			log, err := newLogger("console", "warn")
			if err != nil {
				return err
			}
			st, closeStore, err := gateway.OpenRecordStore(cmd.Context(), o.Target, log)
			if err != nil {
				return err
			}
			progress, done := progressFor(f.json(), "restoring")
			o.Store, o.Progress = st, progress
			r, err := s.Restore(cmd.Context(), o)
			done()
			closeStore() //nolint:errcheck
			if err != nil {
				return err
			}
			indexed := -1
			if !noIndex {
				ops, err := gateway.OpenIndexOps(cmd.Context(), o.Target, log)
				if err != nil {
					return fmt.Errorf("restored, but the index cannot be opened (run `liaison index rebuild --config %s`): %w", o.ConfigPath, err)
				}
				p, err := ops.Rebuild(cmd.Context(), recordstore.RebuildOptions{Restart: true})
				ops.Close()
				if err != nil {
					return fmt.Errorf("restored, but the index rebuild failed (run `liaison index rebuild --config %s`): %w", o.ConfigPath, err)
				}
				indexed = p.Done
			}
			summary := map[string]any{"config": o.ConfigPath, "files": r.Files, "objects": r.Objects, "audit_entries": r.AuditEntries,
				"audit_root": r.AuditRoot, "indexed": indexed}
			var text strings.Builder
			fmt.Fprintf(&text, "restored %s: %d files, %d store objects, audit log of %d entries (root %s)", s.Manifest.GatewayID, r.Files, r.Objects, r.AuditEntries, short(r.AuditRoot))
			if indexed >= 0 {
				fmt.Fprintf(&text, ", %d records indexed", indexed)
			}
			fmt.Fprintf(&text, "\nstart it with: liaison serve --config %s", o.ConfigPath)
			printResult(f.json(), summary, text.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "the new node's liaison.yaml (files go where it says)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "a new data directory: the archived configuration moved under it")
	cmd.Flags().BoolVar(&noIndex, "no-index", false, "do not rebuild the index (run `liaison index rebuild` later)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
	return cmd
}

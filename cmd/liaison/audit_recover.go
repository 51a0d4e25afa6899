package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

func newAuditRecoverCmd() *cobra.Command {
	var (
		f          auditFlags
		signingKey string
		gatewayID  string
		note       string
		yes        bool
	)
	cmd := &cobra.Command{
		Use:   "recover --config liaison.yaml | --dir D --signing-key K  [--note TEXT] [--yes]",
		Short: "Repair a log whose tail is damaged: keep the tail as evidence, record the gap, start a new segment",
		Long: `For a log that no longer verifies (and that the gateway therefore refuses to
open) because its tail was damaged: entries overwritten by a second process,
an altered or garbled entry with entries after it, checkpoints over entries
that are gone. Nothing is deleted: from the first entry that fails, the bytes
of the log and every checkpoint signed over them are moved to damaged-* files
beside it (read-only), the gap is recorded in recoveries.jsonl, a new segment
is started, and its first entry — covered by a freshly signed checkpoint —
says what was done. ` + "`liaison audit verify`" + ` then passes and lists the
recovery, naming the evidence files and whether they are still intact.

Stop the gateway first: recover takes the audit directory's lock. Without
--yes it only prints what it would do. Keep the damaged-* files with the log:
they are the evidence of what was lost, and the entries in them were
acknowledged to callers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			var opts audit.Options
			var dir string
			switch {
			case len(f.dirs) > 1:
				return errors.New("recover works on one log: give one --dir")
			case len(f.dirs) == 1:
				if signingKey == "" {
					return errors.New("--signing-key (the gateway's audit key, audit.signing_key) is required with --dir: the recovery entry must be signed by it")
				}
				dir, opts = f.dirs[0], audit.Options{Gateway: gatewayID, SigningKeyFile: signingKey}
			default:
				cfg, err := f.loadConfig()
				if err != nil {
					return err
				}
				dir, opts = cfg.Audit.Path, config.AuditOptions(cfg)
			}
			// Never create an audit key here: a new key would sign the
			// recovery with a key nobody pinned.
			if _, err := os.Stat(opts.SigningKeyFile); err != nil {
				return fmt.Errorf("audit signing key: %w", err)
			}
			recs, err := audit.Recover(dir, audit.RecoverOptions{JWKS: pinned, Log: opts, Note: note, DryRun: !yes})
			if f.json() {
				printJSON(cmd.OutOrStdout(), map[string]any{"dir": dir, "applied": yes && err == nil, "recoveries": recs})
			}
			if err != nil {
				return err
			}
			if !f.json() {
				w := cmd.OutOrStdout()
				switch {
				case len(recs) == 0:
					fmt.Fprintf(w, "%s verifies: nothing to recover\n", dir)
				case !yes:
					for _, r := range recs {
						fmt.Fprintf(w, "would recover %s: %s\n", dir, r.Failure.Error())
						fmt.Fprintf(w, "  keep entries 1..%d; move entries %d.. and %d checkpoint(s) over them to damaged-* files; continue in %s\n",
							r.KeptEntries, r.KeptEntries+1, r.CheckpointsMoved, r.NewSegment)
					}
					fmt.Fprintln(w, "run again with --yes to do it")
				default:
					for _, r := range recs {
						fmt.Fprintf(w, "%s: %s\n", dir, r.Explain())
					}
				}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&signingKey, "signing-key", "", "with --dir: the gateway's audit key file (audit.signing_key)")
	cmd.Flags().StringVar(&gatewayID, "gateway", "", "with --dir: the gateway id (default: the one in the log)")
	cmd.Flags().StringVar(&note, "note", "", "why (a ticket, an incident): kept in the recovery record and entry")
	cmd.Flags().BoolVar(&yes, "yes", false, "do it (without: print what would be done)")
	return cmd
}

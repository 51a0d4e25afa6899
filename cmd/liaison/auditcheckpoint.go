package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/audit"
)

// checkpointOutput is `liaison audit checkpoint -o json`.
type checkpointOutput struct {
	Gateway string               `json:"gateway"`
	Note    string               `json:"note"`
	States  audit.NoteCheckpoint `json:"states"`
	VKeys   []string             `json:"vkeys"`
}

func newAuditCheckpointCmd() *cobra.Command {
	var f auditFlags
	var vkeyOnly bool
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Print the log's latest checkpoint as a C2SP signed note, for witnesses to cosign",
		Long: `Verifies the log, then prints its latest checkpoint in the C2SP signed-note
form (https://c2sp.org/tlog-checkpoint): origin, tree size, base64 root hash,
a blank line, and the gateway's signature line. Witness tooling cosigns this
note; with --vkey the command prints instead the verifier key(s) a witness
or auditor is configured with (one per audit key in the key set: the same
Ed25519 keys that verify the JWS checkpoints).

  liaison audit checkpoint --dir /var/lib/liaison/audit --jwks audit-keys.jwks.json > checkpoint.note
  liaison audit checkpoint --dir /var/lib/liaison/audit --vkey`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			reps, err := verifyDirs(&f, pinned, true, false)
			if err != nil {
				return err
			}
			if len(reps) != 1 {
				return errors.New("give one log (--dir once)")
			}
			r := reps[0]
			if !r.OK {
				return fmt.Errorf("the log does not verify, so its checkpoint is not printed: %w", r.Err())
			}
			if r.Note == nil {
				return errors.New("the log has no checkpoint note yet (a gateway writes one with each checkpoint)")
			}
			keys := pinned
			if len(keys) == 0 {
				if keys, err = audit.PublishedKeys(r.Dir); err != nil {
					return err
				}
			}
			vkeys, err := audit.NoteVerifierKeys(keys, r.Gateway)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			// The note is text meant for a file or a witness, so JSON only
			// when asked for (not "auto" when piped).
			switch {
			case f.output == "json":
				printJSON(out, checkpointOutput{Gateway: r.Gateway, Note: string(r.SignedNote()), States: *r.Note, VKeys: vkeys})
			case vkeyOnly:
				for _, k := range vkeys {
					fmt.Fprintln(out, k)
				}
			default:
				_, err = out.Write(r.SignedNote())
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&vkeyOnly, "vkey", false, "print the note verifier key(s) instead of the note")
	return cmd
}

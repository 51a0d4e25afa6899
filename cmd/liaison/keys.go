package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
)

// keyFlags locate the configuration whose key provider and store the key
// commands act on: the same file `liaison serve` runs.
type keyFlags struct {
	config, dataDir, agency, dsa, output string
	// custodian and reason go into the audit entry of each operation.
	custodian, reason string
}

func (f *keyFlags) register(cmd *cobra.Command, needAgency bool) {
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway (e.g. .liaison-dev/liaison.yaml)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	usage := "originator agency whose key to act on"
	if !needAgency {
		usage += " (default: all agencies)"
	}
	cmd.Flags().StringVar(&f.agency, "agency", "", usage)
	if needAgency {
		cmd.Flags().StringVar(&f.dsa, "dsa", "", "with per-DSA keys ({dsa} in keys.name_pattern): the DSA whose key to act on")
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
	cmd.Flags().StringVar(&f.custodian, "custodian", os.Getenv("LIAISON_CUSTODIAN"),
		"who runs the operation, for its audit entry (default $LIAISON_CUSTODIAN, else os:<user>@<host>)")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, for the audit entry (e.g. a change ticket)")
}

func (f *keyFlags) open(cmd *cobra.Command) (*gateway.KeyOps, error) {
	if f.config == "" {
		f.config = os.Getenv("LIAISON_CONFIG")
	}
	if f.config == "" {
		return nil, fmt.Errorf("--config is required (the gateway's liaison.yaml)")
	}
	cfg, err := config.Load(f.config, f.dataDir, os.Environ())
	if err != nil {
		return nil, err
	}
	log, err := newLogger("console", "warn")
	if err != nil {
		return nil, err
	}
	k, err := gateway.OpenKeyOps(cmd.Context(), cfg, log)
	if err != nil {
		return nil, err
	}
	if err := k.SetCustodian(f.custodian, f.reason); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// run opens the key operations, runs op and prints its result.
func (f *keyFlags) run(cmd *cobra.Command, needAgency bool, op func(*gateway.KeyOps) (any, string, error)) error {
	if needAgency && f.agency == "" {
		return fmt.Errorf("--agency is required")
	}
	k, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer k.Close()
	v, text, err := op(k)
	if err != nil {
		return err
	}
	printResult(f.json(), v, text)
	return nil
}

func (f *keyFlags) json() bool {
	return f.output == "json" || (f.output == "auto" && !term.IsTerminal(int(os.Stdout.Fd())))
}

func printResult(asJSON bool, v any, text string) {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(v)
		return
	}
	fmt.Println(text)
}

// keyDestroyed is what `liaison keys destroy -o json` prints.
type keyDestroyed struct {
	Key       string `json:"key"`
	Destroyed bool   `json:"destroyed"`
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Key lifecycle: info, rotate, rewrap, shred, destroy (acts on the configured Vault or local keyring)",
		Long: `Key lifecycle commands act directly on the key provider and store named by
the gateway's configuration. With the local keyring, stop the dev gateway
first: the keyring file is locked while a gateway has it open.

rotate, rewrap, shred and destroy are key custody operations: each writes an
entry to the custody audit log (audit.path + "-custody") before it acts — the
custodian (--custodian, else the operating-system user), the reason (--reason),
the key, the scope and the number of records affected — and does nothing if it
cannot. Verify that log with 'liaison audit verify --dir <audit.path>-custody'.`,
	}
	cmd.AddCommand(newKeysInfoCmd(), newKeysRotateCmd(), newKeysRewrapCmd(), newKeysShredCmd(), newKeysDestroyCmd(), newSigningKeyCmd(), newKeysResignCmd())
	return cmd
}

func newKeysInfoCmd() *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use: "info --agency ID", Short: "Show an agency key's versions", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, func(k *gateway.KeyOps) (any, string, error) {
				info, err := k.Info(cmd.Context(), f.agency, f.dsa)
				return info, fmt.Sprintf("%s: latest version %d, min decryption version %d", info.Name, info.LatestVersion, info.MinDecryptionVersion), err
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func newKeysRotateCmd() *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use: "rotate --agency ID", Short: "Add a key version; new records use it (then run rewrap)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, func(k *gateway.KeyOps) (any, string, error) {
				info, err := k.Rotate(cmd.Context(), f.agency, f.dsa)
				return info, fmt.Sprintf("rotated %s: latest version %d", info.Name, info.LatestVersion), err
			})
		},
	}
	f.register(cmd, true)
	return cmd
}

func newKeysRewrapCmd() *cobra.Command {
	var f keyFlags
	cmd := &cobra.Command{
		Use:   "rewrap [--agency ID]",
		Short: "Re-wrap stored data keys under the newest key version (resumable, safe to interrupt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer k.Close()
			progress, finish := recordProgress("rewrap", false)
			st, err := k.Rewrap(cmd.Context(), f.agency, progress)
			finish()
			if err != nil {
				return fmt.Errorf("rewrap stopped after %d records (run it again to resume): %w", st.Scanned, err)
			}
			printResult(f.json(), st, fmt.Sprintf("scanned %d records: %d rewrapped, %d already current, %d skipped, %d failed",
				st.Scanned, st.Rewrapped, st.Current, st.Skipped, st.Failed))
			return recordFailures(st.Failed, st.Errors)
		},
	}
	f.register(cmd, false)
	return cmd
}

// recordProgress is the progress bar on standard error of a pass over
// every stored record (keys rewrap, keys resign); quiet draws none (-o
// json). Call finish when the pass ends, whatever its outcome.
func recordProgress(what string, quiet bool) (progress func(done, total int), finish func()) {
	var bar *progressbar.ProgressBar
	progress = func(done, total int) {
		if quiet {
			return
		}
		if bar == nil {
			bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(what),
				progressbar.OptionShowCount(), progressbar.OptionSetItsString("records"), progressbar.OptionShowIts(),
				progressbar.OptionClearOnFinish())
		}
		_ = bar.Set(done)
	}
	finish = func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
	return progress, finish
}

// recordFailures prints the records a pass could not handle (the errors
// it kept), one per line on standard error, and makes the exit status 1
// when any failed.
func recordFailures(failed int, errs []string) error {
	if failed == 0 {
		return nil
	}
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "  ", e)
	}
	return exitError{code: 1}
}

func newKeysShredCmd() *cobra.Command {
	var f keyFlags
	var minVersion int
	var yes bool
	cmd := &cobra.Command{
		Use:   "shred --agency ID --min-version N --yes",
		Short: "Crypto-shred: make every record wrapped under a key version below N permanently unreadable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.agency == "" || minVersion < 1 {
				return fmt.Errorf("--agency and --min-version are required")
			}
			if !yes {
				return fmt.Errorf("this cannot be undone: add --yes")
			}
			return f.run(cmd, true, func(k *gateway.KeyOps) (any, string, error) {
				if err := k.Shred(cmd.Context(), f.agency, f.dsa, minVersion); err != nil {
					return nil, "", err
				}
				info, err := k.Info(cmd.Context(), f.agency, f.dsa)
				return info, fmt.Sprintf("%s: versions below %d destroyed", info.Name, info.MinDecryptionVersion), err
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().IntVar(&minVersion, "min-version", 0, "lowest key version that may still decrypt")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: destroyed versions cannot be restored")
	return cmd
}

func newKeysDestroyCmd() *cobra.Command {
	var f keyFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy --agency ID [--dsa ID] --yes",
		Short: "Crypto-shred by deleting a key: every record under it becomes permanently unreadable (with per-DSA keys, exactly the agency's records shared under that DSA)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return fmt.Errorf("this cannot be undone: add --yes")
			}
			return f.run(cmd, true, func(k *gateway.KeyOps) (any, string, error) {
				name, err := k.Destroy(cmd.Context(), f.agency, f.dsa)
				if err != nil {
					return nil, "", err
				}
				return keyDestroyed{Key: name, Destroyed: true}, name + ": destroyed; records under it can no longer be read", nil
			})
		},
	}
	f.register(cmd, true)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: a destroyed key cannot be restored")
	return cmd
}

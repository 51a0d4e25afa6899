package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/config"
	"github.com/liaison-project/liaison/gateway/recordstore"
)

// indexFlags locate the gateway configuration whose index the commands act on.
type indexFlags struct {
	config, dataDir, output string
}

func (f *indexFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway (e.g. .liaison-dev/liaison.yaml)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
}

func (f *indexFlags) json() bool {
	return f.output == "json" || (f.output == "auto" && !term.IsTerminal(int(os.Stdout.Fd())))
}

func (f *indexFlags) open(cmd *cobra.Command) (*gateway.IndexOps, config.Config, error) {
	if f.config == "" {
		f.config = os.Getenv("LIAISON_CONFIG")
	}
	if f.config == "" {
		return nil, config.Config{}, fmt.Errorf("--config is required (the gateway's liaison.yaml)")
	}
	cfg, err := config.Load(f.config, f.dataDir, os.Environ())
	if err != nil {
		return nil, cfg, err
	}
	log, err := newLogger("console", "warn")
	if err != nil {
		return nil, cfg, err
	}
	o, err := gateway.OpenIndexOps(cmd.Context(), cfg, log)
	return o, cfg, err
}

func newIndexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "The query and selector index: status, rebuild from the store, blind-index key rotation",
		Long: `The index narrows listings and searches; the object store and the audit log
are the source of truth, so the index can always be rebuilt from the store.
These commands act on the index database and store named by the gateway's
configuration. With the embedded SQLite index, stop the dev gateway first or
expect the rebuild to wait for the database lock now and then.`,
	}
	cmd.AddCommand(newIndexStatusCmd(), newIndexRebuildCmd(), newIndexRotateKeyCmd(), newIndexRetireKeysCmd())
	return cmd
}

func newIndexStatusCmd() *cobra.Command {
	var f indexFlags
	cmd := &cobra.Command{
		Use: "status", Short: "Entries, blind values, key versions and rebuild progress", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, cfg, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer o.Close()
			st, err := o.Status(cmd.Context(), cfg.Index.Backend)
			if err != nil {
				return err
			}
			text := fmt.Sprintf("index (%s): %d entries, %d blind values; blind-index key versions %v", st.Backend, st.Entries, st.BlindValues, st.KeyVersions)
			if st.RebuildResumesAfter != "" {
				text += "\nrebuild unfinished: `liaison index rebuild` resumes after " + st.RebuildResumesAfter
			}
			if st.LastRebuild != "" {
				text += "\nlast rebuild completed " + st.LastRebuild
			}
			printResult(f.json(), st, text)
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newIndexRebuildCmd() *cobra.Command {
	var f indexFlags
	var restart bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Re-index every record from the store (resumable; the gateway may keep running)",
		Long: `Writes the index entry of every record in the store again, from the record
itself: readers, filters and blind selector values under every active
blind-index key. Progress is saved after each page; if the run stops, run it
again and it resumes (--restart starts from the first record).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, _, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer o.Close()
			var bar *progressbar.ProgressBar
			if !f.json() {
				bar = progressbar.NewOptions(-1, progressbar.OptionSetDescription("indexing records"),
					progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("records"), progressbar.OptionClearOnFinish())
			}
			last := 0
			p, err := o.Rebuild(cmd.Context(), recordstore.RebuildOptions{Restart: restart, Progress: func(p recordstore.RebuildProgress) {
				if bar != nil {
					_ = bar.Add(p.Done + p.Skipped - last)
					last = p.Done + p.Skipped
				}
			}})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			var text strings.Builder
			if p.Resumed != "" {
				fmt.Fprintf(&text, "resumed after %s; ", p.Resumed)
			}
			fmt.Fprintf(&text, "indexed %d records", p.Done)
			if p.Skipped > 0 {
				fmt.Fprintf(&text, "; %d failed their integrity check and were not indexed (see the log)", p.Skipped)
			}
			printResult(f.json(), p, text.String())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&restart, "restart", false, "ignore a saved resume point and start from the first record")
	return cmd
}

func newIndexRotateKeyCmd() *cobra.Command {
	var f indexFlags
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Add a blind-index key version (then rebuild, then retire-keys)",
		Long: `Adds a blind-index (selector HMAC) key version. Every replica re-reads the
keyring within index.keyring_refresh and from then on indexes and searches
under every active version. Then run 'liaison index rebuild --restart' to
re-index every record under the new version, and 'liaison index retire-keys'
to delete the old version's blind values and destroy its key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, _, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer o.Close()
			v, err := o.RotateKey(cmd.Context())
			if err != nil {
				return err
			}
			printResult(f.json(), map[string]int{"version": v}, fmt.Sprintf("blind-index key version %d added; now run `liaison index rebuild --restart`, then `liaison index retire-keys`", v))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func newIndexRetireKeysCmd() *cobra.Command {
	var f indexFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "retire-keys",
		Short: "Retire every blind-index key version but the newest (after a rebuild)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return fmt.Errorf("retiring a key deletes its blind values for good: run it after `liaison index rebuild --restart` completed, with --yes")
			}
			o, _, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer o.Close()
			if after, _, err := o.RebuildStateOf(cmd.Context()); err != nil {
				return err
			} else if after != "" {
				return fmt.Errorf("a rebuild is unfinished (it resumes after %s): finish it first", after)
			}
			v, err := o.RetireKeys(cmd.Context())
			if err != nil {
				return err
			}
			printResult(f.json(), map[string][]int{"retired": v}, fmt.Sprintf("retired blind-index key versions %v", v))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm")
	return cmd
}

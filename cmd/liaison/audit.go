package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/gateway"
	"github.com/liaison-project/liaison/gateway/audit"
	"github.com/liaison-project/liaison/gateway/config"
)

// auditFlags locate the logs an auditor works on: log directories given
// with --dir (one per gateway node), or the one a configuration names.
type auditFlags struct {
	dirs            []string
	config, dataDir string
	jwks            string
	output          string
}

func (f *auditFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.dirs, "dir", nil, "audit log directory of one gateway node (repeat for several nodes)")
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml of the gateway, instead of --dir (default $LIAISON_CONFIG)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	cmd.Flags().StringVar(&f.jwks, "jwks", "", "public audit key set to pin (JWKS); default: the key set published beside the log")
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto (text on a terminal)")
}

func (f *auditFlags) loadConfig() (config.Config, error) {
	if f.config == "" {
		f.config = os.Getenv("LIAISON_CONFIG")
	}
	if f.config == "" {
		return config.Config{}, errors.New("give --dir (a gateway's audit log directory) or --config (its liaison.yaml)")
	}
	return config.Load(f.config, f.dataDir, os.Environ())
}

func (f *auditFlags) logDirs() ([]string, error) {
	if len(f.dirs) > 0 {
		return f.dirs, nil
	}
	cfg, err := f.loadConfig()
	if err != nil {
		return nil, err
	}
	return []string{cfg.Audit.Path}, nil
}

func (f *auditFlags) pinned() ([]byte, error) {
	if f.jwks == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.jwks)
	if err != nil {
		return nil, fmt.Errorf("--jwks: %w", err)
	}
	if _, err := jose.NewVerifier(b); err != nil {
		return nil, fmt.Errorf("--jwks %s: %w", f.jwks, err)
	}
	return b, nil
}

func (f *auditFlags) json() bool {
	return f.output == "json" || (f.output == "auto" && !term.IsTerminal(int(os.Stdout.Fd())))
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, query, prove and export the tamper-evident audit log",
		Long: `The audit log of each gateway node is a directory of JSON-lines segments that
form an RFC 6962 Merkle tree, with checkpoints (tree size, root hash, time)
signed by the node's audit key. These commands work on copies of those
directories, offline; verify can also read what the gateway shipped to the
object store.

  liaison audit verify --dir /var/lib/liaison/audit --jwks audit-keys.jwks.json
  liaison audit query --dir node1/audit --dir node2/audit --record 01J…
  liaison audit prove --dir node1/audit --seq 4711 > proof.json
  liaison audit check-proof proof.json --jwks audit-keys.jwks.json
  liaison audit export --dir node1/audit --dsa dsa-met-rocu --from 2026-01-01T00:00:00Z > pack.json
  liaison audit checkpoint --dir node1/audit > checkpoint.note   (C2SP form, for witnesses)`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditQueryCmd(), newAuditProveCmd(), newAuditCheckProofCmd(),
		newAuditExportCmd(), newAuditHMACCmd(), newAuditRecoverCmd(), newAuditCheckpointCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var (
		f                          auditFlags
		fromStore, strict, noProgr bool
		live                       bool
		gateways                   []string
	)
	cmd := &cobra.Command{
		Use:   "verify [--dir D]... | --store --config liaison.yaml",
		Short: "Check every entry, the Merkle tree, every checkpoint signature and consistency; name the first broken entry",
		Long: `Recomputes every entry's hash and its Merkle leaf, rebuilds the tree, checks
every checkpoint's signature, that each checkpoint's root matches the entries,
and a consistency proof between consecutive checkpoints. The first failure is
named precisely (segment, line, seq, or checkpoint). For a federated gateway
it also reports, from the log's own entries, the witness status of each peer:
the last consistent audit checkpoint witnessed of it (tree size, time, entry)
and any inconsistent or invalid checkpoint recorded. Exit status is 1 on any
failure (and, with --strict, when entries are not yet covered by a signed
checkpoint).

Pin the gateway's public audit key with --jwks: without it the key set that
sits beside the log is used, which proves only that the log is consistent
with itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			var reports []*audit.Report
			if fromStore {
				reports, err = verifyStore(cmd, &f, gateways, pinned, !noProgr)
			} else {
				reports, err = verifyDirs(&f, pinned, live, !noProgr)
			}
			if err != nil {
				return err
			}
			failed := false
			for _, r := range reports {
				if !r.OK || (strict && (r.Unsigned > 0 || r.Pending > 0 || r.Checkpoints == 0)) {
					failed = true
				}
			}
			if f.json() {
				printJSON(cmd.OutOrStdout(), map[string]any{"ok": !failed, "logs": reports})
			} else {
				for _, r := range reports {
					printReport(cmd.OutOrStdout(), r)
				}
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&fromStore, "store", false, "verify the copy shipped to the object store of --config")
	cmd.Flags().StringArrayVar(&gateways, "gateway", nil, "with --store: the gateway node(s) to verify (default: all found)")
	cmd.Flags().BoolVar(&strict, "strict", false, "also fail when entries are not yet covered by a signed checkpoint")
	cmd.Flags().BoolVar(&noProgr, "no-progress", false, "no progress bar on stderr")
	cmd.Flags().BoolVar(&live, "live", false, "the log is being written: an append in progress at the end is not a failure")
	return cmd
}

// progress returns a progress callback on stderr (nil when stderr is not a
// terminal or progress is off) and a function that ends the bar.
func progress(show bool, total int64, what string) (func(int), func()) {
	if !show || !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription(what), progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
	return func(n int) { _ = bar.Add(n) }, func() { _ = bar.Finish() }
}

func verifyDirs(f *auditFlags, pinned []byte, live, showProgress bool) ([]*audit.Report, error) {
	dirs, err := f.logDirs()
	if err != nil {
		return nil, err
	}
	var out []*audit.Report
	for _, d := range dirs {
		total, err := audit.LogBytes(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		add, done := progress(showProgress, total, "verifying "+d)
		r, err := audit.Verify(d, audit.VerifyOptions{JWKS: pinned, Progress: add, Live: live})
		done()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func verifyStore(cmd *cobra.Command, f *auditFlags, gateways []string, pinned []byte, showProgress bool) ([]*audit.Report, error) {
	cfg, err := f.loadConfig()
	if err != nil {
		return nil, err
	}
	log, err := newLogger("console", "warn")
	if err != nil {
		return nil, err
	}
	store, closeStore, err := gateway.OpenStore(cmd.Context(), cfg, log)
	if err != nil {
		return nil, err
	}
	defer closeStore() //nolint:errcheck
	if len(gateways) == 0 {
		if gateways, err = audit.StoreGateways(cmd.Context(), store); err != nil {
			return nil, err
		}
		if len(gateways) == 0 {
			return nil, errors.New("the store holds no audit log copies (audit/<gateway>/…)")
		}
	}
	var out []*audit.Report
	for _, g := range gateways {
		add, done := progress(showProgress, -1, "verifying store copy of "+g)
		r, err := audit.VerifyStore(cmd.Context(), store, g, audit.VerifyOptions{JWKS: pinned, Progress: add})
		done()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func printReport(w io.Writer, r *audit.Report) {
	name := r.Gateway
	if name == "" {
		name = "(empty log)"
	}
	if !r.OK {
		fmt.Fprintf(w, "%s  %s: FAILED\n  %s\n  (%d entries verified before it; keys: %s)\n", name, r.Dir, r.Failure.Error(), r.Entries, r.KeySource)
		return
	}
	fmt.Fprintf(w, "%s  %s: OK — %s in %s, %s, signed through entry %d", name, r.Dir, plural(int(r.Entries), "entry", "entries"),
		plural(r.Segments, "segment", "segments"), plural(r.Checkpoints, "checkpoint", "checkpoints"), r.SignedSize)
	if r.Unsigned > 0 {
		fmt.Fprintf(w, " (%s not yet signed)", plural(int(r.Unsigned), "newer entry", "newer entries"))
	}
	if r.Pending > 0 {
		fmt.Fprintf(w, " (%s over segments not shipped yet)", plural(r.Pending, "checkpoint", "checkpoints"))
	}
	fmt.Fprintf(w, "\n  root %s; keys: %s\n", r.RootHash, r.KeySource)
	if r.Note != nil {
		fmt.Fprintf(w, "  checkpoint note (C2SP signed note) verified at tree size %d\n", r.Note.TreeSize)
	}
	for _, rc := range r.Recoveries {
		fmt.Fprintf(w, "  RECOVERED: %s\n", rc.Explain())
	}
	printWitness(w, r.Witness)
}

// printWitness reports the peers' audit checkpoints this gateway witnessed
// (federation cross-witnessing), as its own log records them.
func printWitness(w io.Writer, peers []audit.WitnessPeer) {
	for _, p := range peers {
		if p.Witnessed > 0 {
			fmt.Fprintf(w, "  witness %s: %s witnessed, last at tree size %d on %s (entry %d)\n", p.Gateway,
				plural(p.Witnessed, "checkpoint", "checkpoints"), p.TreeSize, p.Time.UTC().Format(time.RFC3339), p.Seq)
		} else {
			fmt.Fprintf(w, "  witness %s: no consistent checkpoint witnessed\n", p.Gateway)
		}
		for _, pr := range p.Problems {
			via := ""
			if pr.Via != "" {
				via = " (as witnessed by " + pr.Via + ")"
			}
			fmt.Fprintf(w, "  witness %s: %s checkpoint%s at tree size %d on %s (entry %d): %s\n", p.Gateway, strings.ToUpper(pr.Outcome),
				via, pr.TreeSize, pr.Time.UTC().Format(time.RFC3339), pr.Seq, pr.Reason)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// filterFlags are the query conditions shared by query and export.
type filterFlags struct {
	record, agency, recipient, officer, dsa, operation, action, requestID, gw, outcome string
	from, to                                                                           string
	hmacKey                                                                            string
}

func (q *filterFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&q.record, "record", "", "record id")
	fl.StringVar(&q.agency, "agency", "", "agency that acted")
	fl.StringVar(&q.recipient, "recipient", "", "agency something was disclosed to")
	fl.StringVar(&q.officer, "officer", "", "officer id (matched against HMACed values too with --hmac-key)")
	fl.StringVar(&q.dsa, "dsa", "", "data-sharing agreement id")
	fl.StringVar(&q.operation, "operation", "", "collection, consultation, disclosure, erasure, alteration, combination or denial")
	fl.StringVar(&q.action, "action", "", "gateway action, e.g. record.read")
	fl.StringVar(&q.requestID, "request-id", "", "request id (Liaison-Request-Id)")
	fl.StringVar(&q.gw, "gateway", "", "gateway node id")
	fl.StringVar(&q.outcome, "outcome", "", "allowed, denied (by the policy or the gateway) or failed (allowed, not completed)")
	fl.StringVar(&q.from, "from", "", "from this time, inclusive (RFC 3339)")
	fl.StringVar(&q.to, "to", "", "until this time, exclusive (RFC 3339)")
	fl.StringVar(&q.hmacKey, "hmac-key", "", "the gateway's audit HMAC key file, to match HMACed fields")
}

func (q *filterFlags) filter() (audit.Filter, error) {
	f := audit.Filter{RecordID: q.record, Agency: q.agency, Recipient: q.recipient, Officer: q.officer, DSA: q.dsa,
		Operation: q.operation, Action: q.action, RequestID: q.requestID, Gateway: q.gw, Outcome: q.outcome}
	switch q.outcome {
	case "", audit.OutcomeAllowed, audit.OutcomeDenied, audit.OutcomeFailed:
	default:
		return f, fmt.Errorf("--outcome must be allowed, denied or failed, not %q", q.outcome)
	}
	var err error
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"from", q.from, &f.From}, {"to", q.to, &f.To}} {
		if t.v == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.v); err != nil {
			return f, fmt.Errorf("--%s: %q is not an RFC 3339 time such as 2026-01-31T00:00:00Z", t.flag, t.v)
		}
	}
	if q.hmacKey != "" {
		if f.HMACKey, err = audit.LoadHMACKey(q.hmacKey); err != nil {
			return f, err
		}
	}
	return f, nil
}

func newAuditQueryCmd() *cobra.Command {
	var (
		f     auditFlags
		q     filterFlags
		limit int
	)
	cmd := &cobra.Command{
		Use:   "query [--dir D]... [filters]",
		Short: "Find entries by record, agency, officer, DSA, operation or time; several nodes' logs are merged",
		Long: `Prints matching entries as JSON lines (-o json) or a table (-o text; the
default on a terminal). With several --dir, the nodes' logs are merged in
time order. Query does not verify: run verify for that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dirs, err := f.logDirs()
			if err != nil {
				return err
			}
			flt, err := q.filter()
			if err != nil {
				return err
			}
			evs, err := audit.Query(dirs, flt, limit)
			if err != nil {
				return err
			}
			if f.json() {
				w := bufio.NewWriter(cmd.OutOrStdout())
				enc := json.NewEncoder(w)
				for i := range evs {
					_ = enc.Encode(&evs[i])
				}
				return w.Flush()
			}
			printEventTable(cmd.OutOrStdout(), evs)
			return nil
		},
	}
	f.register(cmd)
	q.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many entries (0: all)")
	return cmd
}

func printEventTable(w io.Writer, evs []audit.Event) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tGATEWAY\tSEQ\tOPERATION\tACTION\tSTATUS\tAGENCY\tOFFICER\tRECORDS\tDSA\tPURPOSE\tJUSTIFICATION")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	short := func(s string, n int) string {
		if len(s) > n {
			return s[:n-1] + "…"
		}
		return dash(s)
	}
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Gateway, e.Seq,
			e.Operation, e.Action, e.Status, dash(e.Agency), short(e.Officer, 24), short(strings.Join(e.RecordIDs, ","), 40),
			dash(strings.Join(e.DSAIDs, ",")), dash(e.Purpose), short(e.Justification, 40))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d entries\n", len(evs))
}

func newAuditProveCmd() *cobra.Command {
	var (
		f   auditFlags
		seq uint64
		out string
	)
	cmd := &cobra.Command{
		Use:   "prove --dir D --seq N",
		Short: "An inclusion proof of one entry against the latest signed checkpoint, checkable offline",
		Long: `Verifies the log, then writes a JSON proof: the entry exactly as logged, its
leaf index, the audit path, the signed checkpoint and the public key set.
Anyone can check it with ` + "`liaison audit check-proof`" + `, without the gateway or the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dirs, err := f.logDirs()
			if err != nil {
				return err
			}
			if len(dirs) != 1 {
				return errors.New("prove works on one gateway node's log: give one --dir")
			}
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			pr, r, err := audit.NewProver(dirs[0], audit.VerifyOptions{JWKS: pinned})
			if err != nil {
				if r != nil && !r.OK {
					printReport(cmd.ErrOrStderr(), r)
				}
				return err
			}
			p, err := pr.Prove(seq)
			if err != nil {
				return err
			}
			return writeOut(cmd.OutOrStdout(), out, p)
		},
	}
	f.register(cmd)
	cmd.Flags().Uint64Var(&seq, "seq", 0, "the entry's seq")
	cmd.Flags().StringVar(&out, "out", "", "write the proof to this file (default stdout)")
	_ = cmd.MarkFlagRequired("seq")
	return cmd
}

func writeOut(w io.Writer, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" || path == "-" {
		_, err = w.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func newAuditCheckProofCmd() *cobra.Command {
	var f auditFlags
	cmd := &cobra.Command{
		Use:   "check-proof FILE",
		Short: "Check an inclusion proof or an evidence pack offline",
		Long: `Checks the checkpoint signature, the entry's hash and its audit path to the
signed root — for one proof (from prove) or every entry of an evidence pack
(from export). Needs neither the gateway nor the log. Pin the gateway's
public audit key with --jwks: otherwise the keys inside the file are used,
which shows only that the file is self-consistent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			var head struct {
				Format string `json:"format"`
			}
			if err := json.Unmarshal(b, &head); err != nil {
				return fmt.Errorf("%s is not JSON: %w", args[0], err)
			}
			keys := "pinned (--jwks)"
			if pinned == nil {
				keys = "taken from the file itself: pin the gateway's key with --jwks for evidence"
			}
			switch head.Format {
			case audit.ProofFormat:
				var p audit.InclusionProof
				if err := json.Unmarshal(b, &p); err != nil {
					return err
				}
				ev, cp, err := audit.CheckProof(&p, pinned)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "INVALID:", err)
					return exitError{code: 1}
				}
				if f.json() {
					printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "entry": ev, "checkpoint": cp, "keys": keys})
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "OK: entry %d of %s is in its audit log as signed at tree size %d (%s).\n  %s %s %s by %s, status %d, records %s\n  keys: %s\n",
					ev.Seq, cp.Gateway, cp.TreeSize, cp.Time.Format(time.RFC3339), ev.Time.Format(time.RFC3339), ev.Operation, ev.Action,
					ev.Agency, ev.Status, strings.Join(ev.RecordIDs, ","), keys)
			case audit.PackFormat:
				var p audit.EvidencePack
				if err := json.Unmarshal(b, &p); err != nil {
					return err
				}
				res, err := audit.CheckPack(&p, pinned)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "INVALID:", err)
					return exitError{code: 1}
				}
				if f.json() {
					printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "result": res, "keys": keys})
					return nil
				}
				signed := "not signed by the exporter"
				if res.Signed {
					signed = "exporter signature valid"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "OK: %d entries proven against %d signed checkpoints; %s; keys: %s\n", len(res.Entries), len(res.Checkpoints), signed, keys)
				for _, n := range res.Notes {
					fmt.Fprintf(cmd.OutOrStdout(), "  checkpoint note (C2SP signed note) of %s verified at tree size %d\n", n.Origin, n.TreeSize)
				}
				for _, u := range p.Uncovered {
					fmt.Fprintf(cmd.OutOrStdout(), "  NOT IN THE PACK: %s\n", describeUncovered(u))
				}
				if p.Unproven > 0 && len(p.Uncovered) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "  note: %d matching entries were newer than the last checkpoint when exported and are not in the pack\n", p.Unproven)
				}
				printEventTable(cmd.OutOrStdout(), res.Entries)
			default:
				return fmt.Errorf("%s is neither an inclusion proof nor an evidence pack (format %q)", args[0], head.Format)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.jwks, "jwks", "", "public audit key set(s) to pin (JWKS)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "auto", "json, text, or auto")
	return cmd
}

func newAuditExportCmd() *cobra.Command {
	var (
		f                      auditFlags
		q                      filterFlags
		signKey, out, auditKey string
		noSeal                 bool
	)
	cmd := &cobra.Command{
		Use:   "export [--dir D]... (--record ID | --dsa ID) [--from T] [--to T]",
		Short: "A signed evidence pack: matching entries with inclusion proofs, checkpoints and public keys",
		Long: `Verifies each log, then writes every matching entry with its inclusion proof
against its gateway's latest signed checkpoint, those checkpoints and the
public keys, so that the pack can be checked offline with check-proof.
--sign-key adds the exporter's signature over the whole pack (an Ed25519 JWK,
e.g. the auditor's own key).

Entries newer than a log's last checkpoint cannot be proven. So that the
pack covers every entry, export first signs a checkpoint over the whole log
with the log's own audit key — audit.signing_key of --config, or
--audit-key — as the gateway does when it stops. It does so only when no
gateway holds the log (the log's writer lock): a running gateway signs a
checkpoint within audit.checkpoint_interval itself. When no checkpoint can
be signed (no key here, a running gateway, --no-seal, a read-only copy) the
entries left out are named, with their count, sequence range and the
reason, on stderr and in the pack's "uncovered" list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.record == "" && q.dsa == "" {
				return errors.New("export needs --record or --dsa")
			}
			dirs, err := f.logDirs()
			if err != nil {
				return err
			}
			pinned, err := f.pinned()
			if err != nil {
				return err
			}
			flt, err := q.filter()
			if err != nil {
				return err
			}
			why, err := sealForExport(cmd.ErrOrStderr(), &f, dirs, pinned, auditKey, noSeal)
			if err != nil {
				return err
			}
			pack, err := audit.Export(dirs, flt, audit.VerifyOptions{JWKS: pinned}, time.Now())
			if err != nil {
				return err
			}
			for i := range pack.Uncovered {
				if r := why[pack.Uncovered[i].Gateway]; r != "" {
					pack.Uncovered[i].Reason = r
				} else if r := why[""]; r != "" {
					pack.Uncovered[i].Reason = r
				}
			}
			if signKey != "" {
				s, err := jose.LoadOrCreateSigner(signKey)
				if err != nil {
					return err
				}
				if err := pack.Sign(s); err != nil {
					return err
				}
			}
			for _, u := range pack.Uncovered {
				fmt.Fprintf(cmd.ErrOrStderr(), "NOT IN THE PACK: %s\n", describeUncovered(u))
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%d entries exported\n", len(pack.Entries))
			return writeOut(cmd.OutOrStdout(), out, pack)
		},
	}
	f.register(cmd)
	q.register(cmd)
	cmd.Flags().StringVar(&signKey, "sign-key", "", "Ed25519 private JWK to sign the pack with (created if absent)")
	cmd.Flags().StringVar(&out, "out", "", "write the pack to this file (default stdout)")
	cmd.Flags().StringVar(&auditKey, "audit-key", "", "the gateway's audit signing key (audit.signing_key), to sign a checkpoint over the whole log before exporting; default: that of --config")
	cmd.Flags().BoolVar(&noSeal, "no-seal", false, "never sign a checkpoint at export; report the entries left out instead")
	return cmd
}

func describeUncovered(u audit.PackUncovered) string {
	return fmt.Sprintf("gateway %s: %d matching entries (seq %d to %d) are newer than its last signed checkpoint (tree size %d of %d entries): %s",
		u.Gateway, u.Count, u.FirstSeq, u.LastSeq, u.SignedSize, u.LogSize, u.Reason)
}

// sealForExport signs a checkpoint over every entry of each log it may
// sign for (audit.SealHead), and returns, by gateway, why it did not for
// the others that have entries after their last checkpoint.
func sealForExport(stderr io.Writer, f *auditFlags, dirs []string, pinned []byte, keyFile string, noSeal bool) (map[string]string, error) {
	why := map[string]string{}
	gateway := ""
	if keyFile == "" && len(f.dirs) == 0 {
		// The log comes from --config: so may its key.
		cfg, err := f.loadConfig()
		if err != nil {
			return nil, err
		}
		keyFile, gateway = cfg.Audit.SigningKey, cfg.GatewayID
	}
	var signer *jose.Signer
	noKey := "the exporter has no audit signing key for this log (export on the gateway's host with --config or --audit-key)"
	switch {
	case noSeal:
		noKey = "--no-seal: no checkpoint was signed at export"
	case keyFile == "":
	default:
		if _, err := os.Stat(keyFile); err != nil {
			// Never create a key here: a new key would sign nothing anyone trusts.
			noKey = fmt.Sprintf("the audit signing key %s cannot be read (%v)", keyFile, err)
			break
		}
		s, err := jose.LoadOrCreateSigner(keyFile)
		if err != nil {
			noKey = fmt.Sprintf("the audit signing key %s cannot be loaded (%v)", keyFile, err)
			break
		}
		signer = s
	}
	if signer == nil {
		why[""] = noKey // for every log
		return why, nil
	}
	for _, d := range dirs {
		rep, err := audit.SealHead(d, audit.SealOptions{Signer: signer, Gateway: gateway, JWKS: pinned})
		switch {
		case rep == nil || !rep.OK:
			continue // Export verifies again and says what is wrong
		case err == nil && rep.Unsigned > 0:
			fmt.Fprintf(stderr, "signed a checkpoint over %d entries of %s (gateway %s) that no checkpoint covered\n", rep.Unsigned, d, rep.Gateway)
		case err == nil:
		case errors.Is(err, audit.ErrLogHeld):
			why[rep.Gateway] = "a running gateway holds the log, and only it may sign its checkpoints; it signs one within audit.checkpoint_interval: export again then"
		default:
			why[rep.Gateway] = "no checkpoint could be signed at export: " + err.Error()
		}
	}
	return why, nil
}

func newAuditHMACCmd() *cobra.Command {
	var (
		f          auditFlags
		key, value string
	)
	cmd := &cobra.Command{
		Use:   "hmac --value X [--key FILE | --config liaison.yaml]",
		Short: "Print the HMAC a field holds for a known value (audit.hmac_fields)",
		Long: `Prints hmac-sha256:<hex> of the value with the gateway's audit HMAC key, to
compare with an entry whose field was stored HMACed. --value - reads the
value from stdin, which keeps it out of the shell history.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				cfg, err := f.loadConfig()
				if err != nil {
					return fmt.Errorf("give --key (the audit HMAC key file) or --config: %w", err)
				}
				key = cfg.Audit.HMACKey
			}
			k, err := audit.LoadHMACKey(key)
			if err != nil {
				return err
			}
			if value == "-" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				value = strings.TrimRight(line, "\r\n")
			}
			fmt.Fprintln(cmd.OutOrStdout(), audit.HMAC(k, value))
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the audit HMAC key file (audit.hmac_key)")
	cmd.Flags().StringVar(&value, "value", "", "the value to HMAC, or - for stdin")
	cmd.Flags().StringVar(&f.config, "config", "", "liaison.yaml whose audit.hmac_key to use")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "/var/lib/liaison", "base for default paths, as for serve")
	_ = cmd.MarkFlagRequired("value")
	return cmd
}

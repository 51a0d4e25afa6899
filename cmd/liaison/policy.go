package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/crypto/jose"
	"github.com/liaison-project/liaison/policy"
	"github.com/liaison-project/liaison/policy/shadow"
	"github.com/liaison-project/liaison/policy/signedbundle"
)

// policyOutput is the -o flag shared by the policy commands.
type policyOutput struct{ format string }

func (o *policyOutput) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "text", "text or json")
}

func (o *policyOutput) json() bool { return o.format == "json" }

func (o *policyOutput) validate() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("--output must be text or json, not %q", o.format)
	}
	return nil
}

func policyJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// policySource selects the policy a command works on: a directory, a signed
// bundle, or (neither) the embedded library.
type policySource struct {
	dir, bundle, trustedKeys string
	required                 int
}

func (s *policySource) register(cmd *cobra.Command, dirFlag string) {
	if dirFlag != "" {
		cmd.Flags().StringVar(&s.dir, dirFlag, "", "policy directory (default: the policy embedded in this binary)")
	}
	cmd.Flags().StringVar(&s.bundle, "bundle", "", "signed policy bundle instead of a directory")
	cmd.Flags().StringVar(&s.trustedKeys, "trusted-keys", "", "JWKS of the security officers' public keys (with --bundle)")
	cmd.Flags().IntVar(&s.required, "required-signatures", 0, "distinct trusted signatures a bundle needs (default 1)")
}

func (s *policySource) options() policy.Options {
	return policy.Options{Dir: s.dir, Bundle: s.bundle, TrustedKeys: s.trustedKeys, RequiredSignatures: s.required, ReloadInterval: -1}
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Security officers' tools: test, check, explain, replay and sign Rego policies",
		Long: `Work on a copy of the policy library (policies/ in the source tree) and
check it before a gateway loads it:

  liaison policy test ./policies             run the Rego unit tests
  liaison policy check ./policies            lint, compile, validate data and samples
  liaison policy eval --dir ./policies --input in.json
                                             one decision, explained
  liaison policy replay --dir live --candidate ./policies --inputs decisions.jsonl
                                             which decisions a change would alter
  liaison policy sign --dir ./policies --key officer.jwk.json --out policy.tar.gz

A gateway watching its policy directory (policy.dir) reloads a change only
after it compiles, its data matches the schemas and it passes its samples
and Rego tests; otherwise it keeps the policy in force and audits the
rejection.`,
	}
	cmd.AddCommand(newPolicyTestCmd(), newPolicyCheckCmd(), newPolicyEvalCmd(), newPolicyCrosswalkCmd(), newPolicyReplayCmd(),
		newPolicySignCmd(), newPolicyVerifyCmd(), newPolicyKeygenCmd())
	return cmd
}

func newPolicyTestCmd() *cobra.Command {
	var out policyOutput
	var verbose bool
	var run string
	cmd := &cobra.Command{
		Use:   "test [dir]",
		Short: "Run the policy's Rego unit tests (*_test.rego), as `opa test liaison data` does",
		Long: `Runs every test rule of the policy against its data and prints each failure
with its file:line. Table-driven tests report each case by name. Exits 1 if
any test fails. Without a directory, tests the policy embedded in this binary.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			var filter *regexp.Regexp
			if run != "" {
				var err error
				if filter, err = regexp.Compile(run); err != nil {
					return fmt.Errorf("--run: %w", err)
				}
			}
			start := time.Now()
			results, err := policy.RunTests(cmd.Context(), dir)
			if err != nil {
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			var shown []policy.TestResult
			for _, r := range results {
				if filter != nil && !filter.MatchString(r.Name) {
					continue
				}
				shown = append(shown, r)
			}
			// Counted as `opa test` counts: a table rule's cases, not the rule.
			pass, fail, skip := policy.CountTests(shown)
			w := cmd.OutOrStdout()
			if out.json() {
				if err := policyJSON(w, map[string]any{"pass": pass, "fail": fail, "skip": skip, "results": shown}); err != nil {
					return err
				}
			} else {
				for _, r := range shown {
					switch {
					case !r.Pass && !r.Skip:
						fmt.Fprintf(w, "FAIL %s\n     %s\n", r.Name, r.Location)
						if r.Error != "" {
							fmt.Fprintf(w, "     error: %s\n", r.Error)
						}
					case verbose && r.Skip:
						fmt.Fprintf(w, "SKIP %s\n", r.Name)
					case verbose && r.Duration > 0:
						// Timings find slow tests before they meet opa test's
						// per-test timeout (5s by default).
						fmt.Fprintf(w, "PASS %s (%s)\n", r.Name, r.Duration.Round(time.Microsecond))
					case verbose:
						fmt.Fprintf(w, "PASS %s\n", r.Name)
					}
				}
				total := pass + fail + skip
				status := "PASS"
				if fail > 0 {
					status = "FAIL"
				}
				fmt.Fprintf(w, "%s: %d/%d passed", status, pass, total)
				if skip > 0 {
					fmt.Fprintf(w, ", %d skipped", skip)
				}
				fmt.Fprintf(w, " (%s)\n", time.Since(start).Round(time.Millisecond))
			}
			if fail > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list passing tests too")
	cmd.Flags().StringVar(&run, "run", "", "only tests whose name matches this regular expression")
	return cmd
}

func printProblems(w io.Writer, ps []policy.Problem) {
	for _, p := range ps {
		fmt.Fprintln(w, p.String())
	}
}

func newPolicyCheckCmd() *cobra.Command {
	var out policyOutput
	var src policySource
	cmd := &cobra.Command{
		Use:   "check [dir]",
		Short: "Lint and compile a policy, validate its data against the schemas, and check its samples",
		Long: `Reports every problem as file:line:col: kind: message — formatting (opa fmt),
parse and strict compile errors (unused variables and imports, as
opa check --strict), DSAs and agencies that do not match
schemas/*.schema.json, and sample decisions (samples.json) the policy does
not reproduce. Exits 1 if there is any problem.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if len(args) == 1 {
				src.dir = args[0]
			}
			r, err := policy.Check(cmd.Context(), src.options())
			if err != nil {
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			w := cmd.OutOrStdout()
			if out.json() {
				if r.Problems == nil {
					r.Problems = []policy.Problem{}
				}
				if err := policyJSON(w, r); err != nil {
					return err
				}
			} else {
				printProblems(w, r.Problems)
				if r.OK() {
					fmt.Fprintf(w, "OK %s: revision %s, %d modules, %d test files, %d data files, %d samples reproduced\n",
						r.Source, r.Revision, r.Modules, r.TestFiles, r.DataFiles, r.Samples)
				} else {
					fmt.Fprintf(w, "%d problem(s) in %s\n", len(r.Problems), r.Source)
				}
			}
			if !r.OK() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	out.register(cmd)
	src.register(cmd, "")
	return cmd
}

func newPolicyEvalCmd() *cobra.Command {
	var out policyOutput
	var src policySource
	var file string
	cmd := &cobra.Command{
		Use:   "eval --input input.json",
		Short: "Decide one input and explain the decision: which checks passed, which failed and why",
		Long: `Evaluates the policy for one input (the document the gateway builds, see
policies/README.md; the body of POST /v1/decisions, {"input": {...}}, works
too) and prints the decision with an explanation a security officer can
read. Without "time" in the input, now is used. The input is evaluated as
written, like the dry run's: fields the gateway never sends, or leaves out,
show what the policy does with such an input.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			in, err := readPolicyInput(file)
			if err != nil {
				return err
			}
			if _, ok := in["time"]; !ok {
				in["time"] = time.Now().UTC().Format(time.RFC3339)
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the input has no time; using %s\n", in["time"])
			}
			e, err := policy.New(cmd.Context(), src.options())
			if err != nil {
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			defer e.Close()
			raw, err := json.Marshal(in) // json.Number keeps each number's text
			if err != nil {
				return err
			}
			d, evalErr := e.DecideJSON(cmd.Context(), raw)
			d.Explanation = e.ExplainJSON(cmd.Context(), d, raw)
			w := cmd.OutOrStdout()
			if out.json() {
				resp := map[string]any{"decision": d}
				if evalErr != nil {
					resp["evaluation_error"] = evalErr.Error()
				}
				return policyJSON(w, resp)
			}
			fmt.Fprintf(w, "Decision %s under policy %s\n", d.ID, d.Revision)
			fmt.Fprint(w, d.Explanation.Text())
			if evalErr != nil {
				fmt.Fprintf(w, "\nevaluation error (the gateway denies): %v\n", evalErr)
			}
			return nil
		},
	}
	out.register(cmd)
	src.register(cmd, "dir")
	cmd.Flags().StringVarP(&file, "input", "i", "", "policy input JSON ('-' for standard input)")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

// readPolicyInput reads an input document, or a {"input": ...} request body.
func readPolicyInput(file string) (map[string]any, error) {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, fmt.Errorf("%s: not a JSON object", file)
	}
	if inner, ok := doc["input"].(map[string]any); ok && len(doc) == 1 {
		return inner, nil
	}
	return doc, nil
}

func newPolicyCrosswalkCmd() *cobra.Command {
	var out policyOutput
	var src policySource
	var legacy string
	cmd := &cobra.Command{
		Use:   "crosswalk --legacy B24",
		Short: "Read a legacy 5x5x5 grade as 3x5x2 through the policy's cross-walk (data/crosswalk.json)",
		Long: `Prints the 3x5x2 grading and handling to record on an imported legacy record
(keep the original in grading.legacy_5x5x5) and the legacy obligations
3x5x2 has no field for. The gateway applies the same handling at decision
time in addition to the record's own, whatever the importer recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			e, err := policy.New(cmd.Context(), src.options())
			if err != nil {
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			cw, err := e.Crosswalk(cmd.Context(), strings.ToUpper(strings.TrimSpace(legacy)))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out.json() {
				return policyJSON(w, cw)
			}
			grading, _ := json.Marshal(cw.Grading)
			handling, _ := json.Marshal(cw.Handling)
			fmt.Fprintf(w, "legacy 5x5x5 %s\n  grading:  %s\n  handling: %s\n", cw.Legacy, grading, handling)
			if len(cw.Conditions) > 0 {
				fmt.Fprintf(w, "  legacy obligations: %s\n", strings.Join(cw.Conditions, ", "))
			}
			return nil
		},
	}
	out.register(cmd)
	src.register(cmd, "dir")
	cmd.Flags().StringVar(&legacy, "legacy", "", "legacy 5x5x5 grade: source A-E, intelligence 1-5, handling 1-5 (e.g. B24)")
	_ = cmd.MarkFlagRequired("legacy")
	return cmd
}

func newPolicyReplayCmd() *cobra.Command {
	var out policyOutput
	var live policySource
	var candidate, inputs, reportPath string
	var failOnChange bool
	var limit int
	cmd := &cobra.Command{
		Use:   "replay --candidate dir --inputs decisions.jsonl",
		Short: "Replay recorded decision inputs against a candidate policy and report every decision that would change",
		Long: `Decides every recorded input with the live policy (--dir or --bundle, default
the embedded one) and with the candidate, and reports each decision that
would change: the outcome (allow→deny, deny→allow), reasons added or
removed, obligations or the granting DSA. A summary counts changes by
action and by reason code.

Inputs are JSON lines, each a policy input or {"input": {...}}: the file a
gateway in shadow mode records, or inputs collected from POST /v1/decisions.
Reports name requests by ids and an input digest only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			liveEng, err := policy.New(ctx, live.options())
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "live policy:")
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			defer liveEng.Close()
			candEng, err := policy.New(ctx, policy.Options{Dir: candidate, ReloadInterval: -1})
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "candidate policy:")
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 2}
			}
			defer candEng.Close()
			f, err := os.Open(inputs)
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := shadow.Replay(ctx, liveEng, candEng, f, inputs)
			if err != nil {
				return err
			}
			printProblems(cmd.ErrOrStderr(), r.Malformed)
			if reportPath != "" {
				if err := writeChanges(reportPath, r.Changes); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if out.json() {
				if err := policyJSON(w, r); err != nil {
					return err
				}
			} else {
				fmt.Fprint(w, r.Text(limit))
			}
			if failOnChange && r.Changed > 0 {
				return exitError{code: 3}
			}
			return nil
		},
	}
	out.register(cmd)
	live.register(cmd, "dir")
	cmd.Flags().StringVar(&candidate, "candidate", "", "candidate policy directory")
	cmd.Flags().StringVar(&inputs, "inputs", "", "recorded decision inputs, one JSON object per line")
	cmd.Flags().StringVar(&reportPath, "report", "", "also write every change as JSON lines to this file")
	cmd.Flags().BoolVar(&failOnChange, "fail-on-change", false, "exit 3 if any decision would change (for CI)")
	cmd.Flags().IntVar(&limit, "limit", 50, "changes listed in the text output (0: all)")
	_ = cmd.MarkFlagRequired("candidate")
	_ = cmd.MarkFlagRequired("inputs")
	return cmd
}

func writeChanges(path string, changes []shadow.Change) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, c := range changes {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o600)
}

func newPolicySignCmd() *cobra.Command {
	var dir, bundle, keyFile, out string
	cmd := &cobra.Command{
		Use:   "sign (--dir d | --bundle b.tar.gz) --key officer.jwk.json --out policy.tar.gz",
		Short: "Sign a policy directory into a bundle, or add a second officer's signature to a bundle",
		Long: `With --dir, checks that the policy loads (compiles, data valid, samples and
Rego tests pass), then writes a bundle of its files with a manifest of their
SHA-256 digests, signed with the security officer's private JWK (a JWS).
With --bundle, adds this officer's signature to an existing bundle after
checking its files still match the manifest (--out defaults to the bundle).
Gateways configured with policy.bundle load it only if enough distinct
trusted keys signed it (policy.required_signatures).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (dir == "") == (bundle == "") {
				return fmt.Errorf("give exactly one of --dir and --bundle")
			}
			key, err := jose.LoadPrivateJWK(keyFile)
			if err != nil {
				return err
			}
			var info *signedbundle.Info
			if dir != "" {
				if out == "" {
					return fmt.Errorf("--out is required with --dir")
				}
				info, err = policy.Sign(cmd.Context(), dir, key, out)
			} else {
				if out == "" {
					out = bundle
				}
				info, err = policy.CoSign(bundle, key, out)
			}
			if err != nil {
				printProblems(cmd.ErrOrStderr(), policy.ProblemsOf(err))
				return exitError{code: 1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed %s: revision %s, %d files, signatures by %s\n",
				info.Path, info.Manifest.Revision, len(info.Manifest.Files), strings.Join(info.Signers, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory to sign")
	cmd.Flags().StringVar(&bundle, "bundle", "", "existing bundle to add a signature to")
	cmd.Flags().StringVar(&keyFile, "key", "", "the security officer's private signing JWK")
	cmd.Flags().StringVar(&out, "out", "", "bundle to write (.tar.gz)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newPolicyVerifyCmd() *cobra.Command {
	var out policyOutput
	var bundle, trusted string
	var required int
	cmd := &cobra.Command{
		Use:   "verify --bundle policy.tar.gz --trusted-keys officers.jwks.json",
		Short: "Check a bundle's signatures and files as a gateway would before loading it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			info, err := policy.VerifyBundle(bundle, trusted, required)
			w := cmd.OutOrStdout()
			if out.json() {
				resp := map[string]any{"trusted": err == nil, "bundle": info}
				if err != nil {
					resp["error"] = err.Error()
				}
				if jerr := policyJSON(w, resp); jerr != nil {
					return jerr
				}
			} else if err == nil {
				fmt.Fprintf(w, "OK %s: revision %s, %d files, created %s, signed by %s\n", bundle, info.Manifest.Revision,
					len(info.Manifest.Files), info.Manifest.Created.Format(time.RFC3339), strings.Join(info.Signers, ", "))
				for _, r := range info.Rejected {
					fmt.Fprintf(w, "  not counted: %s\n", r)
				}
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().StringVar(&bundle, "bundle", "", "policy bundle")
	cmd.Flags().StringVar(&trusted, "trusted-keys", "", "JWKS of the security officers' public keys")
	cmd.Flags().IntVar(&required, "required-signatures", 1, "distinct trusted signatures required")
	_ = cmd.MarkFlagRequired("bundle")
	_ = cmd.MarkFlagRequired("trusted-keys")
	return cmd
}

func newPolicyKeygenCmd() *cobra.Command {
	var out, public string
	cmd := &cobra.Command{
		Use:   "keygen --out officer.jwk.json --public officer.jwks.json",
		Short: "Create a security officer's Ed25519 signing key (private JWK) and its public JWKS",
		Long: `Writes the private key (mode 0600, never leaves the officer) and the public
key set to add to the gateways' trusted keys (policy.trusted_keys). Refuses
to overwrite an existing key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := jose.GenerateSigningKey()
			if err != nil {
				return err
			}
			raw, err := json.MarshalIndent(priv, "", "  ")
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			if _, err := f.Write(append(raw, '\n')); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(public, append(pub, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s: private %s, public %s\n", priv.KeyID(), out, public)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to create")
	cmd.Flags().StringVar(&public, "public", "", "public JWKS file to write")
	_ = cmd.MarkFlagRequired("out")
	_ = cmd.MarkFlagRequired("public")
	return cmd
}

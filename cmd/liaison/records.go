package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"github.com/liaison-project/liaison/crypto/pki"
	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/record"
)

// clientFlags are how every client command finds the gateway and proves who it is.
type clientFlags struct {
	profileName, dataDir, profDir   string
	endpoint, cert, key, ca         string
	token, tokenFile                string
	purpose, justification, caseRef string
	output                          string
	timeout                         time.Duration
}

func (c *clientFlags) register(cmd *cobra.Command, requestFlags bool) {
	f := cmd.Flags()
	f.StringVar(&c.profileName, "profile", os.Getenv("LIAISON_PROFILE"), "agency profile: a name under the profile directory or a path to a profile file; default $LIAISON_PROFILE")
	f.StringVar(&c.profDir, "profile-dir", "", "directory of the agency profiles (<name>.yaml); default $"+envProfileDir+", else "+filepath.Join(defaultDevDir, "profiles"))
	f.StringVar(&c.dataDir, "data-dir", defaultDevDir, "deprecated: the --data-dir `liaison dev` ran with; means --profile-dir <data-dir>/profiles")
	_ = f.MarkDeprecated("data-dir", "it means --profile-dir <data-dir>/profiles; use --profile-dir or $"+envProfileDir)
	f.StringVar(&c.endpoint, "endpoint", "", "gateway URL, e.g. https://gateway.example:8443 (overrides the profile)")
	f.StringVar(&c.cert, "cert", "", "client certificate (PEM)")
	f.StringVar(&c.key, "key", "", "client key (PEM)")
	f.StringVar(&c.ca, "ca", "", "CA bundle that verifies the gateway (PEM)")
	if !requestFlags {
		return
	}
	f.StringVar(&c.token, "token", os.Getenv("LIAISON_TOKEN"), "officer token (JWT); default $LIAISON_TOKEN")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding the officer token")
	f.StringVar(&c.purpose, "purpose", "", "Liaison-Purpose: prevention, investigation, detection, prosecution, …")
	f.StringVar(&c.justification, "justification", "", "Liaison-Justification: why you need it (DPA 2018 s.62)")
	f.StringVar(&c.caseRef, "case", "", "Liaison-Case: case or operation reference")
	f.StringVarP(&c.output, "output", "o", "auto", "json, text, or auto (text on a terminal, json otherwise)")
	f.DurationVar(&c.timeout, "timeout", 30*time.Second, "request timeout")
}

func (c *clientFlags) profile() (profile, error) {
	var p profile
	if c.profileName != "" {
		path := c.profileName
		if !strings.ContainsAny(path, `/\`) && !strings.HasSuffix(path, ".yaml") {
			path = filepath.Join(c.profileDir(), c.profileName+".yaml")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return p, fmt.Errorf("profile %s: %w (profiles are looked up in --profile-dir or $%s; run `liaison dev` first, or pass --endpoint --cert --key --ca)", c.profileName, err, envProfileDir)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			return p, fmt.Errorf("profile %s: %w", path, err)
		}
	}
	for _, o := range []struct {
		dst *string
		v   string
	}{{&p.Endpoint, c.endpoint}, {&p.Cert, c.cert}, {&p.Key, c.key}, {&p.CA, c.ca}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if p.Endpoint == "" || p.Cert == "" || p.Key == "" || p.CA == "" {
		return p, errors.New("need --profile, or all of --endpoint --cert --key --ca")
	}
	return p, nil
}

// envProfileDir names the profile directory for every client command, so
// that a walkthrough's commands work unchanged whichever --data-dir
// `liaison dev` ran with.
const envProfileDir = "LIAISON_PROFILE_DIR"

// profileDir is where named profiles are looked up: --profile-dir, else the
// deprecated --data-dir (which always meant <data-dir>/profiles on client
// commands), else $LIAISON_PROFILE_DIR, else the dev default. An explicit
// flag wins over the environment, as everywhere else.
func (c *clientFlags) profileDir() string {
	switch {
	case c.profDir != "":
		return c.profDir
	case c.dataDir != defaultDevDir:
		return filepath.Join(c.dataDir, "profiles")
	case os.Getenv(envProfileDir) != "":
		return os.Getenv(envProfileDir)
	}
	return filepath.Join(defaultDevDir, "profiles")
}

// client is a mutual-TLS HTTP client for one agency.
type client struct {
	base    *url.URL
	http    *http.Client
	flags   *clientFlags
	token   string
	jsonOut bool
}

func (c *clientFlags) client() (*client, error) {
	p, err := c.profile()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(p.Endpoint)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q must be an https URL", p.Endpoint)
	}
	tcfg, err := pki.ClientTLSConfig(p.Cert, p.Key, []string{p.CA}, u.Hostname())
	if err != nil {
		return nil, err
	}
	tok := c.token
	if c.tokenFile != "" {
		b, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, err
		}
		tok = strings.TrimSpace(string(b))
	}
	jsonOut := c.output == "json" || (c.output == "auto" && !term.IsTerminal(int(os.Stdout.Fd())))
	if c.output != "json" && c.output != "text" && c.output != "auto" {
		return nil, fmt.Errorf("--output must be json, text or auto")
	}
	return &client{base: u, flags: c, token: tok, jsonOut: jsonOut,
		http: &http.Client{Timeout: c.timeout, Transport: wrapTransport(&http.Transport{TLSClientConfig: tcfg, ForceAttemptHTTP2: true})}}, nil
}

// wrapTransport lets the tests check every request the CLI sends, and its
// answer, against docs/openapi.yaml (gatewaytest.ContractTransport).
var wrapTransport = func(t http.RoundTripper) http.RoundTripper { return t }

func (c *client) do(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path = strings.TrimRight(c.base.Path, "/") + path[:i]
		u.RawQuery = path[i+1:]
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for h, v := range map[string]string{"Liaison-Purpose": c.flags.purpose, "Liaison-Justification": c.flags.justification, "Liaison-Case": c.flags.caseRef} {
		if v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	return resp.StatusCode, b, resp.Header, err
}

// problemError prints a problem+json answer readably and returns exit code
// 1. An answer that is not a problem (a proxy's HTML page, a truncated
// body) is an error of its own that says so: never an empty message.
func (c *client) problemError(method, path string, status int, body []byte) error {
	var p api.Problem
	if err := api.Decode(body, &p); err != nil {
		return fmt.Errorf("%s %s: the gateway answered %d %s with a body that is not a valid %w",
			method, pathOnly(path), status, http.StatusText(status), err)
	}
	if c.jsonOut {
		os.Stdout.Write(body)
	}
	printProblem(os.Stderr, status, &p)
	return exitError{code: 1}
}

// printProblem writes a problem for a person: status, title and detail,
// then each invalid field, each public reason, and the ids to quote.
func printProblem(w io.Writer, status int, p *api.Problem) {
	t := terminalSafe
	fmt.Fprintf(w, "error: %d %s: %s\n", status, t(p.Title), t(p.Detail))
	for _, e := range p.Errors {
		ptr := e.Pointer
		if ptr == "" {
			ptr = "(body)"
		}
		fmt.Fprintf(w, "  %s: %s\n", t(ptr), t(e.Detail))
	}
	for _, r := range p.Reasons {
		fmt.Fprintf(w, "  reason %s: %s\n", t(r.Code), t(r.Message))
	}
	if p.DecisionID != "" {
		fmt.Fprintf(w, "  decision id: %s (the decision in the gateway's audit log)\n", t(p.DecisionID))
	}
	if p.RequestID != "" {
		fmt.Fprintf(w, "  request id: %s\n", t(p.RequestID))
	}
}

// terminalSafe replaces control characters (C0, DEL, C1, and the Unicode
// format and line/paragraph separators record.Printable refuses) with
// U+FFFD before a gateway's text reaches the operator's terminal: an
// answer, even from an authenticated gateway, must not move the cursor,
// rewrite earlier lines or hide text with escape sequences.
func terminalSafe(s string) string {
	if record.Printable(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if !record.Printable(string(r)) {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// call sends a request and, when the status is want, decodes the answer
// into v (api.Decode: a malformed or incomplete answer is an error naming
// the request, never zero values) and returns the raw body as well (for
// -o json). Any other status is printed as a problem and becomes exit code 1.
func (c *client) call(ctx context.Context, method, path string, body []byte, want int, v api.Response) ([]byte, error) {
	st, resp, _, err := c.do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if st != want {
		return nil, c.problemError(method, path, st, resp)
	}
	if err := c.decode(method, path, st, resp, v); err != nil {
		return nil, err
	}
	return resp, nil
}

// callOrPrint is call for the commands that print what they got: with -o
// json it copies the gateway's answer to standard output as it came
// (checked by call first) and reports printed, so that the caller returns;
// otherwise the caller prints v for people.
func (c *client) callOrPrint(ctx context.Context, method, path string, body []byte, want int, v api.Response) (printed bool, err error) {
	resp, err := c.call(ctx, method, path, body, want, v)
	if err != nil || !c.jsonOut {
		return false, err
	}
	_, err = os.Stdout.Write(resp)
	return true, err
}

// decode decodes a success answer into v, or says which request's answer
// was malformed.
func (c *client) decode(method, path string, status int, resp []byte, v api.Response) error {
	if err := api.Decode(resp, v); err != nil {
		return fmt.Errorf("%s %s: the gateway answered %d with a malformed %w", method, pathOnly(path), status, err)
	}
	return nil
}

// pathOnly drops the query (a cursor is long and says nothing to a reader).
func pathOnly(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		return path[:i]
	}
	return path
}

func newRecordsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "records", Short: "Publish, read, list and recall records on a gateway"}
	cmd.AddCommand(newPutCmd(), newGetCmd(), newListCmd(), newRecallCmd(), newShareCmd(), newDecideCmd(), newStatusCmd(), newReviewCmd())
	return cmd
}

func readInput(file string) ([]byte, error) {
	if file == "" {
		return nil, errors.New("--file is required ('-' reads standard input)")
	}
	if file == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(file)
}

func newPutCmd() *cobra.Command {
	var cf clientFlags
	var file string
	cmd := &cobra.Command{
		Use:   "put --file record.json",
		Short: `Publish a record: {"meta": {...}, "content": {...}}`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, err := readInput(file)
			if err != nil {
				return err
			}
			var r api.Published
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodPost, "/v1/records", body, http.StatusCreated, &r); printed || err != nil {
				return err
			}
			fmt.Printf("published %s\n  digest %s\n", r.ID, r.Digest)
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVarP(&file, "file", "f", "", "record JSON ('-' for standard input)")
	return cmd
}

func newGetCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Read a record (metadata, content after obligations, handling banner)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var r api.Record
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/records/"+url.PathEscape(args[0]), nil, http.StatusOK, &r); printed || err != nil {
				return err
			}
			fmt.Printf("%s\n%s\n", r.Handling.Banner, r.ID)
			if len(r.Handling.Conditions) > 0 {
				fmt.Printf("conditions: %s\n", strings.Join(r.Handling.Conditions, ", "))
			}
			if len(r.Handling.Redacted) > 0 {
				fmt.Printf("redacted:   %s\n", strings.Join(r.Handling.Redacted, ", "))
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, r.Content, "", "  "); err != nil {
				return fmt.Errorf("record %s: content is not JSON: %w", r.ID, err)
			}
			fmt.Println(pretty.String())
			return nil
		},
	}
	cf.register(cmd, true)
	return cmd
}

func newListCmd() *cobra.Command {
	var cf clientFlags
	var limit int
	var cursor string
	var all bool
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the records you may read, optionally filtered",
		Long: `List the records you may read. Filters narrow the listing and combine
(AND); a filter taking several values (comma-separated) matches any of them.
Every record listed is still decided by the gateway's policy.

  liaison records list --dsa dsa-uk-soc --ocg ocg-2291 --created-from 2026-03-01
  liaison records list --review overdue --originator met-police`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			f, err := lf.filter()
			if err != nil {
				return err
			}
			// -o json prints the pages as one api.RecordList: the items the
			// gateway sent (re-encoded from the same type it encoded them
			// from) and the cursor that continues after them.
			list := api.RecordList{Items: []api.RecordListItem{}}
			for {
				f.Limit, f.Cursor = limit, cursor
				q := f.Values()
				var page api.RecordList
				if _, err := c.call(cmd.Context(), http.MethodGet, "/v1/records?"+q.Encode(), nil, http.StatusOK, &page); err != nil {
					return err
				}
				list.Items = append(list.Items, page.Items...)
				cursor = page.NextCursor
				if !all || cursor == "" {
					break
				}
			}
			list.NextCursor = cursor
			if c.jsonOut {
				return json.NewEncoder(os.Stdout).Encode(list)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tORIGINATOR\tCREATED\tHANDLING")
			for _, it := range list.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.ID, it.Meta.Originator.OrgID, it.Meta.Created, it.Banner)
			}
			tw.Flush()
			if cursor != "" {
				fmt.Printf("more: --cursor %s\n", cursor)
			}
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 50, "records per page")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue from a previous page")
	cmd.Flags().BoolVar(&all, "all", false, "follow the cursor to the end")
	lf.register(cmd)
	return cmd
}

// listFlags are the filters of `records list` (api.ListFilter).
type listFlags struct {
	dsa, originator, recipient, ocg, fourP, tier, tlp, handling []string
	operation, createdFrom, createdTo, reviewFrom, reviewTo     string
	review                                                      string
}

func (l *listFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&l.dsa, "dsa", nil, "data-sharing agreement id(s)")
	fl.StringSliceVar(&l.originator, "originator", nil, "originating agency id(s)")
	fl.StringSliceVar(&l.recipient, "recipient", nil, "recipient agency id(s)")
	fl.StringSliceVar(&l.ocg, "ocg", nil, "organised crime group reference(s)")
	fl.StringSliceVar(&l.fourP, "four-p", nil, "4P category: PURSUE, PREVENT, PROTECT, PREPARE")
	fl.StringSliceVar(&l.tier, "tier", nil, "classification tier: OFFICIAL, SECRET, TOP_SECRET")
	fl.StringSliceVar(&l.tlp, "tlp", nil, "TLP: CLEAR, GREEN, AMBER, AMBER+STRICT, RED")
	fl.StringSliceVar(&l.handling, "handling-code", nil, "3x5x2 handling code: P, C")
	fl.StringVar(&l.operation, "operation", "", "operation name (tags.operation, exact)")
	fl.StringVar(&l.createdFrom, "created-from", "", "created at or after (date or RFC 3339 time)")
	fl.StringVar(&l.createdTo, "created-to", "", "created before (date or RFC 3339 time)")
	fl.StringVar(&l.reviewFrom, "review-from", "", "review due on or after (date)")
	fl.StringVar(&l.reviewTo, "review-to", "", "review due on or before (date)")
	fl.StringVar(&l.review, "review", "", "review state: due (within 30 days) or overdue")
}

// filter builds the query the gateway checks; the gateway's own parser
// checks it here first, so a mistake is reported before any request.
func (l *listFlags) filter() (api.ListFilter, error) {
	q := url.Values{}
	set := func(name string, vs []string) {
		if len(vs) > 0 {
			q.Set(name, strings.Join(vs, ","))
		}
	}
	set("dsa", l.dsa)
	set("originator", l.originator)
	set("recipient", l.recipient)
	set("ocg", l.ocg)
	set("four_p", l.fourP)
	set("tier", l.tier)
	set("tlp", l.tlp)
	set("handling_code", l.handling)
	for name, v := range map[string]string{"operation": l.operation, "created_from": l.createdFrom, "created_to": l.createdTo,
		"review_from": l.reviewFrom, "review_to": l.reviewTo, "review": l.review} {
		if v != "" {
			q.Set(name, v)
		}
	}
	f, err := api.ParseListFilter(q, api.MaxListLimit)
	if err != nil {
		// The gateway names its query parameter; the flag is spelt with '-'.
		name, rest, _ := strings.Cut(err.Error(), " ")
		name, _, _ = strings.Cut(name, ":")
		return f, fmt.Errorf("--%s %s", strings.ReplaceAll(name, "_", "-"), rest)
	}
	return f, nil
}

func newRecallCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "recall ID",
		Short: "Recall a record you originated: unreadable for everyone afterwards",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var r api.Recalled
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodDelete, "/v1/records/"+url.PathEscape(args[0]), nil, http.StatusOK, &r); printed || err != nil {
				return err
			}
			fmt.Printf("%s %s\n", r.State, r.ID)
			return nil
		},
	}
	cf.register(cmd, true)
	return cmd
}

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Where a record you originated went beyond this gateway: delivered, refused, failed, recalls acknowledged",
		Long: `Show the delivery state of a record you originated at every other gateway it
was sent to: pending, delivered (with the receiving gateway's signed receipt),
refused (with its public reasons) or failed; and, after a recall, which
gateways (including onward copies further away) have acknowledged it.
--wait polls until nothing is pending (or the time is up).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			deadline := time.Now().Add(wait)
			var r api.Deliveries
			var resp []byte
			for {
				resp, err = c.call(cmd.Context(), http.MethodGet, "/v1/records/"+url.PathEscape(args[0])+"/deliveries", nil, http.StatusOK, &r)
				if err != nil {
					return err
				}
				pending := slices.ContainsFunc(r.Items, func(d api.Delivery) bool { return d.State == "pending" })
				if !pending || time.Now().After(deadline) {
					break
				}
				if !c.jsonOut {
					fmt.Fprintf(os.Stderr, "waiting: %d pending\n", countState(r.Items, "pending"))
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(500 * time.Millisecond):
				}
			}
			if c.jsonOut {
				os.Stdout.Write(resp)
				return nil
			}
			if len(r.Items) == 0 {
				fmt.Printf("%s: not sent to any other gateway\n", r.RecordID)
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GATEWAY\tMESSAGE\tAGENCIES\tSTATE\tDETAIL")
			for _, d := range r.Items {
				detail := d.Error
				for _, rs := range d.Reasons {
					detail = strings.TrimSpace(detail + " " + rs.Code + ": " + rs.Message)
				}
				if d.Via != "" {
					via := "via " + d.Via
					if !d.Verified {
						via += " (signature not checked: not a peer)"
					}
					detail = strings.TrimSpace(via + " " + detail)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Gateway, d.Type, strings.Join(d.Agencies, ","), d.State, terminalSafe(detail))
			}
			return tw.Flush()
		},
	}
	cf.register(cmd, true)
	cmd.Flags().DurationVar(&wait, "wait", 0, "poll until nothing is pending, at most this long (e.g. 30s)")
	return cmd
}

func countState(items []api.Delivery, state string) int {
	n := 0
	for _, d := range items {
		if d.State == state {
			n++
		}
	}
	return n
}

func newDecideCmd() *cobra.Command {
	var cf clientFlags
	var file string
	cmd := &cobra.Command{
		Use:   "decide --file input.json",
		Short: "Ask the gateway's policy what it would decide for an input (security officers)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			in, err := readInput(file)
			if err != nil {
				return err
			}
			body, err := json.Marshal(api.DecisionRequest{Input: in})
			if err != nil {
				return fmt.Errorf("%s is not JSON: %w", file, err)
			}
			var d api.DecisionResult
			resp, err := c.call(cmd.Context(), http.MethodPost, "/v1/decisions", body, http.StatusOK, &d)
			if err != nil {
				return err
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, resp, "", "  ") == nil {
				resp = pretty.Bytes()
			}
			fmt.Println(strings.TrimSpace(string(resp)))
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy input JSON ('-' for standard input)")
	return cmd
}

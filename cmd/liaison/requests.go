package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/api"
)

// `liaison requests`: requests for information to the agency that holds a
// record (docs/requests.md). The searcher files, the holder answers from
// its queue; both see the deadline and whether it has passed.

func newRequestsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "requests", Short: "Requests for information after a search hit: file, list, show, answer, detail, withdraw"}
	cmd.AddCommand(newRequestsFileCmd(), newRequestsListCmd(), newRequestsShowCmd(), newRequestsAnswerCmd(),
		newRequestsDetailCmd(), newRequestsWithdrawCmd())
	return cmd
}

func newRequestsFileCmd() *cobra.Command {
	var cf clientFlags
	var req api.RequestFile
	cmd := &cobra.Command{
		Use:   "file --reference REF|--record ID --purpose P --justification J --case C --urgency urgent|normal --access direct|indirect",
		Short: "File a request for information with the agency that holds a record (the deadline comes from the policy)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (req.Reference == "") == (req.RecordID == "") {
				return errors.New("name the record with exactly one of --reference (a search hit) or --record")
			}
			if req.Access == "" {
				return errors.New("--access direct|indirect is required: it sets the deadline of an urgent request")
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			// The purpose, justification and case travel in the body (the
			// request keeps them); the client sends the same as headers.
			req.Purpose, req.Justification, req.Case = cf.purpose, cf.justification, cf.caseRef
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			var r api.InfoRequest
			resp, err := c.call(cmd.Context(), http.MethodPost, "/v1/requests", body, http.StatusCreated, &r)
			if err != nil {
				return err
			}
			return printRequest(c, resp, &r)
		},
	}
	cf.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&req.Reference, "reference", "", "the search hit reference (hit_…)")
	f.StringVar(&req.RecordID, "record", "", "a record id you can already see")
	f.StringVar(&req.Urgency, "urgency", "normal", "urgent or normal")
	f.StringVar(&req.Access, "access", "", "direct or indirect (required): is the information directly accessible to the holder? (Directive 2023/977 art. 5)")
	f.StringVar(&req.Kind, "kind", "information", "information, or prum_core_data after a confirmed Prüm match")
	f.StringVar(&req.Detail, "detail", "", "what you ask for, in words")
	return cmd
}

func newRequestsListCmd() *cobra.Command {
	var cf clientFlags
	var role, state, cursor string
	var overdue bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--role holder|requester] [--state open|needs_detail|answered|refused|withdrawn] [--overdue]",
		Short: "Requests for information you hold (your queue) or filed, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"role": role, "state": state, "cursor": cursor} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if overdue {
				q.Set("overdue", "true")
			}
			if limit > 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			var page api.InfoRequestList
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/requests?"+q.Encode(), nil, http.StatusOK, &page); printed || err != nil {
				return err
			}
			return printRequestList(os.Stdout, &page)
		},
	}
	cf.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "holder (your queue) or requester (what you filed); both when empty")
	f.StringVar(&state, "state", "", "open, needs_detail, answered, refused or withdrawn; all when empty")
	f.BoolVar(&overdue, "overdue", false, "only open requests past their deadline")
	f.IntVar(&limit, "limit", 0, "page size (the gateway's default when 0)")
	f.StringVar(&cursor, "cursor", "", "continue a listing (next_cursor of the previous page)")
	return cmd
}

func newRequestsShowCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "show REQUEST_ID",
		Short: "One request for information, with its history",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var r api.InfoRequest
			resp, err := c.call(cmd.Context(), http.MethodGet, "/v1/requests/"+url.PathEscape(args[0]), nil, http.StatusOK, &r)
			if err != nil {
				return err
			}
			return printRequest(c, resp, &r)
		},
	}
	cf.register(cmd, true)
	return cmd
}

func newRequestsAnswerCmd() *cobra.Command {
	var cf clientFlags
	var share bool
	var refuse, question string
	cmd := &cobra.Command{
		Use:   "answer REQUEST_ID --share | --refuse REASON | --need-detail QUESTION",
		Short: "Answer a request you hold: share the record (normal share path), refuse, or ask for more detail",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var a api.RequestAnswer
			n := 0
			if share {
				a.Action, n = "share", n+1
			}
			if cmd.Flags().Changed("refuse") {
				a.Action, a.Reason, n = "refuse", refuse, n+1
			}
			if cmd.Flags().Changed("need-detail") {
				a.Action, a.Question, n = "need_detail", question, n+1
			}
			if n != 1 {
				return errors.New("give exactly one of --share, --refuse REASON, --need-detail QUESTION")
			}
			return postRequest(cmd, &cf, args[0], "answer", a)
		},
	}
	cf.register(cmd, true)
	f := cmd.Flags()
	f.BoolVar(&share, "share", false, "share the record with the requester")
	f.StringVar(&refuse, "refuse", "", "refuse, with this reason")
	f.StringVar(&question, "need-detail", "", "ask the requester this question (the deadline clock stops until it answers)")
	return cmd
}

func newRequestsDetailCmd() *cobra.Command {
	var cf clientFlags
	var text string
	cmd := &cobra.Command{
		Use:   "detail REQUEST_ID --text TEXT",
		Short: "Give the detail the holder asked for (the deadline clock restarts)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if text == "" {
				return errors.New("--text is required")
			}
			return postRequest(cmd, &cf, args[0], "detail", api.RequestDetail{Text: text})
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVar(&text, "text", "", "the detail")
	return cmd
}

func newRequestsWithdrawCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "withdraw REQUEST_ID",
		Short: "Withdraw a request you filed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return postRequest(cmd, &cf, args[0], "withdraw", nil)
		},
	}
	cf.register(cmd, true)
	return cmd
}

// postRequest sends one transition of a request and prints the request as
// it now stands.
func postRequest(cmd *cobra.Command, cf *clientFlags, id, verb string, body any) error {
	c, err := cf.client()
	if err != nil {
		return err
	}
	var b []byte
	if body != nil {
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var r api.InfoRequest
	resp, err := c.call(cmd.Context(), http.MethodPost, "/v1/requests/"+url.PathEscape(id)+"/"+verb, b, http.StatusOK, &r)
	if err != nil {
		return err
	}
	return printRequest(c, resp, &r)
}

func printRequest(c *client, resp []byte, r *api.InfoRequest) error {
	if c.jsonOut {
		_, err := os.Stdout.Write(resp)
		return err
	}
	writeRequest(os.Stdout, r)
	return nil
}

// dueText is the deadline as people read it: when, and whether it passed.
func dueText(r *api.InfoRequest) string {
	switch {
	case r.Overdue:
		return r.Due + " OVERDUE"
	case r.Clock == "stopped":
		return r.Due + " (clock stopped: waiting for the requester's detail)"
	}
	return r.Due
}

// writeRequest prints one request and its history. Free text from the
// other agency (detail, reasons, questions) is printed through safeText
// so that it cannot move the cursor or forge lines.
func writeRequest(w io.Writer, r *api.InfoRequest) {
	fmt.Fprintf(w, "%s  %s  (you are the %s)\n", r.ID, strings.ToUpper(r.State), r.Role)
	fmt.Fprintf(w, "  requester %s → holder %s under %s\n", r.Requester, r.Holder, r.DSA)
	if r.RecordID != "" {
		fmt.Fprintf(w, "  record    %s", r.RecordID)
		if r.Version > 0 {
			fmt.Fprintf(w, " (shared as version %d)", r.Version)
		}
		fmt.Fprintln(w)
	}
	if r.Reference != "" {
		fmt.Fprintf(w, "  reference %s\n", r.Reference)
	}
	fmt.Fprintf(w, "  %s, %s, %s access; deadline %d h; due %s\n", r.Kind, r.Urgency, r.Access, r.DeadlineHours, dueText(r))
	fmt.Fprintf(w, "  purpose %s, case %s: %s\n", r.Purpose, r.Case, safeText(r.Justification))
	if r.Detail != "" {
		fmt.Fprintf(w, "  asks for: %s\n", safeText(r.Detail))
	}
	if r.ConsentID != "" {
		fmt.Fprintf(w, "  the share waits for consent %s\n", r.ConsentID)
	}
	for _, h := range r.History {
		fmt.Fprintf(w, "  %s  %-17s %-12s by %s", h.At, h.Action, h.State, h.Agency)
		if h.Text != "" {
			fmt.Fprintf(w, ": %s", safeText(h.Text))
		}
		fmt.Fprintln(w)
	}
}

// safeText replaces control and format characters (the gateway refuses
// them, but the CLI does not rely on that for what it prints).
func safeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func printRequestList(w io.Writer, page *api.InfoRequestList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tSTATE\tYOU ARE\tREQUESTER\tHOLDER\tDSA\tURGENCY\tDUE\tOVERDUE")
	for _, it := range page.Items {
		od := "-"
		if it.Overdue {
			od = "OVERDUE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.State, it.Role, it.Requester, it.Holder, it.DSA, it.Urgency, it.Due, od)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextCursor != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", page.NextCursor)
	}
	return nil
}

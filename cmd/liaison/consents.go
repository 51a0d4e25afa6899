package main

import (
	"encoding/json"
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

func newShareCmd() *cobra.Command {
	var cf clientFlags
	var to []string
	var note string
	cmd := &cobra.Command{
		Use:   "share ID --to AGENCY[,AGENCY]",
		Short: "Share a record onward; files a consent request when the originator must agree",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(to) == 0 {
				return fmt.Errorf("--to is required")
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(api.ShareRequest{Recipients: to, Note: note})
			if err != nil {
				return err
			}
			path := "/v1/records/" + url.PathEscape(args[0]) + "/shares"
			st, resp, _, err := c.do(cmd.Context(), http.MethodPost, path, body)
			if err != nil {
				return err
			}
			// 200: shared at once; 202: a consent request was filed.
			var shared api.Shared
			var filed api.ConsentFiled
			var answer api.Response = &shared
			switch st {
			case http.StatusOK:
			case http.StatusAccepted:
				answer = &filed
			default:
				return c.problemError(http.MethodPost, path, st, resp)
			}
			if err := c.decode(http.MethodPost, path, st, resp, answer); err != nil {
				return err
			}
			if c.jsonOut {
				os.Stdout.Write(resp)
				return nil
			}
			if st == http.StatusAccepted {
				printConsentFiled(os.Stdout, &filed)
				return nil
			}
			r := shared
			fmt.Printf("shared %s (version %d): recipients %s\n", args[0], r.Version, strings.Join(r.Recipients, ", "))
			return nil
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringSliceVar(&to, "to", nil, "agency id(s) to share with")
	cmd.Flags().StringVar(&note, "note", "", "a note for the originator, if consent is needed")
	return cmd
}

func newConsentsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "consents", Short: "Onward-sharing consent requests: list, approve, refuse (originators decide)"}
	cmd.AddCommand(newConsentsListCmd(), newConsentDecisionCmd("approve"), newConsentDecisionCmd("refuse"))
	return cmd
}

func newConsentsListCmd() *cobra.Command {
	var cf clientFlags
	var state string
	cmd := &cobra.Command{
		Use:   "list [--state pending|approved|refused|expired|all]",
		Short: "Consent requests you must decide or that you made",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var page api.ConsentList
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodGet, "/v1/consents?state="+url.QueryEscape(state), nil, http.StatusOK, &page); printed || err != nil {
				return err
			}
			return printConsentList(os.Stdout, &page)
		},
	}
	cf.register(cmd, true)
	cmd.Flags().StringVar(&state, "state", "pending", "pending, approved, refused, expired or all")
	return cmd
}

func newConsentDecisionCmd(verb string) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   verb + " CONSENT_ID",
		Short: map[string]string{"approve": "Approve an onward share of your record (signed receipt)", "refuse": "Refuse an onward share of your record"}[verb],
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var r api.ConsentDecided
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodPost, "/v1/consents/"+url.PathEscape(args[0])+"/"+verb, nil, http.StatusOK, &r); printed || err != nil {
				return err
			}
			fmt.Printf("%s: %s %s\n", args[0], r.State, r.RecordID)
			return nil
		},
	}
	cf.register(cmd, true)
	return cmd
}

// printConsentFiled says what a share that needs consent did: filed (or
// found already pending), why consent is needed, and whether the
// originator refused the same request before.
func printConsentFiled(w io.Writer, r *api.ConsentFiled) {
	if r.Duplicate {
		fmt.Fprintf(w, "consent already requested: %s is pending (waits for the originator until %s); nothing new was filed\n", r.ConsentID, r.Expires)
	} else {
		fmt.Fprintf(w, "consent requested: %s (waits for the originator until %s)\n", r.ConsentID, r.Expires)
	}
	for _, why := range r.Reasons {
		fmt.Fprintf(w, "  why: %s: %s\n", why.Code, why.Message)
	}
	if n := len(r.PreviousRefusals); n > 0 {
		fmt.Fprintf(w, "  repeat: the originator refused this request %d time(s) before: %s\n", n, refusalList(r.PreviousRefusals))
	}
}

func refusalList(rs []api.ConsentRefusal) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.ConsentID + " on " + r.RefusedAt
	}
	return strings.Join(parts, ", ")
}

// printConsentList prints the table, and under each request why consent is
// needed and, for a repeat, the earlier refusals.
func printConsentList(w io.Writer, page *api.ConsentList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSENT\tRECORD\tSTATE\tYOU ARE\tREQUESTED BY\tTO\tEXPIRES\tREPEAT\tNOTE")
	for _, it := range page.Items {
		repeat := "-"
		if n := len(it.PreviousRefusals); n > 0 {
			repeat = fmt.Sprintf("refused %dx", n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ConsentID, it.RecordID, it.State, it.Role, it.RequestedBy,
			strings.Join(it.Recipients, ","), it.Expires, repeat, it.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range page.Items {
		if len(it.Reasons) == 0 && len(it.PreviousRefusals) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", it.ConsentID)
		for _, why := range it.Reasons {
			fmt.Fprintf(w, "  why: %s: %s\n", why.Code, why.Message)
		}
		if len(it.PreviousRefusals) > 0 {
			fmt.Fprintf(w, "  repeat of refused: %s\n", refusalList(it.PreviousRefusals))
		}
	}
	return nil
}

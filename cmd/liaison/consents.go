package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
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
			body, _ := json.Marshal(map[string]any{"recipients": to, "note": note})
			st, resp, _, err := c.do(cmd.Context(), http.MethodPost, "/v1/records/"+url.PathEscape(args[0])+"/shares", body)
			if err != nil {
				return err
			}
			if st != http.StatusOK && st != http.StatusAccepted {
				return c.problemError(st, resp)
			}
			if c.jsonOut {
				os.Stdout.Write(resp)
				return nil
			}
			var r struct {
				ConsentID  string   `json:"consent_id"`
				Recipients []string `json:"recipients"`
				Expires    string   `json:"expires"`
				Version    int      `json:"version"`
			}
			_ = json.Unmarshal(resp, &r)
			if st == http.StatusAccepted {
				fmt.Printf("consent requested: %s (waits for the originator until %s)\n", r.ConsentID, r.Expires)
				return nil
			}
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
			resp, err := c.call(cmd.Context(), http.MethodGet, "/v1/consents?state="+url.QueryEscape(state), nil, http.StatusOK)
			if err != nil {
				return err
			}
			if c.jsonOut {
				os.Stdout.Write(resp)
				return nil
			}
			var page struct {
				Items []struct {
					ConsentID   string   `json:"consent_id"`
					RecordID    string   `json:"record_id"`
					State       string   `json:"state"`
					Role        string   `json:"role"`
					RequestedBy string   `json:"requested_by"`
					Recipients  []string `json:"recipients"`
					Expires     string   `json:"expires"`
					Note        string   `json:"note"`
				} `json:"items"`
			}
			_ = json.Unmarshal(resp, &page)
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONSENT\tRECORD\tSTATE\tYOU ARE\tREQUESTED BY\tTO\tEXPIRES\tNOTE")
			for _, it := range page.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ConsentID, it.RecordID, it.State, it.Role, it.RequestedBy,
					strings.Join(it.Recipients, ","), it.Expires, it.Note)
			}
			return tw.Flush()
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
			resp, err := c.call(cmd.Context(), http.MethodPost, "/v1/consents/"+url.PathEscape(args[0])+"/"+verb, nil, http.StatusOK)
			if err != nil {
				return err
			}
			if c.jsonOut {
				os.Stdout.Write(resp)
				return nil
			}
			var r struct {
				State      string   `json:"state"`
				RecordID   string   `json:"record_id"`
				Recipients []string `json:"recipients"`
			}
			_ = json.Unmarshal(resp, &r)
			fmt.Printf("%s: %s %s\n", args[0], r.State, r.RecordID)
			return nil
		},
	}
	cf.register(cmd, true)
	return cmd
}

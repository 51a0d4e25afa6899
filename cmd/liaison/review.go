package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/crypto/identity"
	"github.com/liaison-project/liaison/gateway/api"
)

// `liaison records review`: the originator's MoPI review (docs/review.md).
// Without an id it lists the caller's records whose review is overdue;
// with one it retains the record until a new review date, or disposes of
// it (a recall).

func newReviewCmd() *cobra.Command {
	var cf clientFlags
	var retainUntil, agency, cursor string
	var dispose, all bool
	var limit int
	cmd := &cobra.Command{
		Use:   "review [ID --retain-until YYYY-MM-DD | ID --dispose] --justification TEXT",
		Short: "MoPI review: list your overdue records, or retain (new review date) or dispose of one",
		Long: `Without an ID, lists the records your agency originated whose review date
has passed (GET /v1/records?review=overdue&originator=<your agency>).

With an ID, reviews that record (POST /v1/records/{id}/review), as an
officer (--token) with a --justification:
  --retain-until DATE   keep it; its next review is on DATE (a new version)
  --dispose             recall it: unreadable for everyone afterwards`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if retainUntil != "" || dispose {
					return errors.New("--retain-until and --dispose review one record: give its ID")
				}
				return listOverdue(cmd, &cf, agency, limit, cursor, all)
			}
			req, err := reviewRequest(retainUntil, dispose, cf.justification)
			if err != nil {
				return err
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			var r api.Reviewed
			if printed, err := c.callOrPrint(cmd.Context(), http.MethodPost, "/v1/records/"+url.PathEscape(args[0])+"/review", body, http.StatusOK, &r); printed || err != nil {
				return err
			}
			if r.Decision == "retain" && r.Review != nil {
				fmt.Printf("retained %s until %s (was %s), version %d\n", r.ID, r.Review.Due, r.PreviousDue, r.Version)
				return nil
			}
			fmt.Printf("disposed of %s (%s; review was due %s)\n", r.ID, r.State, r.PreviousDue)
			return nil
		},
	}
	cf.register(cmd, true)
	f := cmd.Flags()
	f.StringVar(&retainUntil, "retain-until", "", "retain the record; its next review date (YYYY-MM-DD)")
	f.BoolVar(&dispose, "dispose", false, "dispose of the record (recall it)")
	f.StringVar(&agency, "agency", "", "your agency (default: the profile's)")
	f.IntVar(&limit, "limit", 50, "records per page (listing)")
	f.StringVar(&cursor, "cursor", "", "continue from a previous page (listing)")
	f.BoolVar(&all, "all", false, "follow the cursor to the end (listing)")
	return cmd
}

// reviewRequest checks the flags of a review before anything is sent.
func reviewRequest(retainUntil string, dispose bool, justification string) (api.ReviewRequest, error) {
	switch {
	case dispose && retainUntil != "":
		return api.ReviewRequest{}, errors.New("give either --retain-until or --dispose, not both")
	case !dispose && retainUntil == "":
		return api.ReviewRequest{}, errors.New("give --retain-until YYYY-MM-DD or --dispose")
	case justification == "":
		return api.ReviewRequest{}, errors.New("a review needs --justification")
	}
	if dispose {
		return api.ReviewRequest{Decision: "dispose", Justification: justification}, nil
	}
	if _, err := time.Parse(time.DateOnly, retainUntil); err != nil {
		return api.ReviewRequest{}, fmt.Errorf("--retain-until %q is not a date YYYY-MM-DD", retainUntil)
	}
	return api.ReviewRequest{Decision: "retain", ReviewDue: retainUntil, Justification: justification}, nil
}

// overdueQuery is the listing of agency's overdue records: the gateway
// narrows it (review state, originator), never the client.
func overdueQuery(agency string, limit int, cursor string) string {
	q := url.Values{"review": {"overdue"}, "originator": {agency}, "limit": {fmt.Sprint(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return "/v1/records?" + q.Encode()
}

func listOverdue(cmd *cobra.Command, cf *clientFlags, agency string, limit int, cursor string, all bool) error {
	if agency == "" {
		p, err := cf.profile()
		if err != nil {
			return err
		}
		agency = p.Agency
	}
	if !identity.ValidID(agency) {
		return errors.New("name your agency: --agency, or a --profile that names it")
	}
	c, err := cf.client()
	if err != nil {
		return err
	}
	list := api.RecordList{Items: []api.RecordListItem{}}
	for {
		var page api.RecordList
		if _, err := c.call(cmd.Context(), http.MethodGet, overdueQuery(agency, limit, cursor), nil, http.StatusOK, &page); err != nil {
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
	fmt.Fprintln(tw, "ID\tREVIEW DUE\tSTATE\tCREATED\tHANDLING")
	for _, it := range list.Items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.Review.Due, it.Review.State, it.Meta.Created, terminalSafe(it.Banner))
	}
	tw.Flush()
	if cursor != "" {
		fmt.Printf("more: --cursor %s\n", cursor)
	}
	return nil
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/api"
	"github.com/liaison-project/liaison/gateway/selector"
)

func newSearchCmd() *cobra.Command {
	var cf clientFlags
	var phones, ibans, emails, vehicles, documents, persons []string
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Ask whether anyone holds a phone number, IBAN, e-mail, vehicle, document or person (hit/no-hit)",
		Long: `Search the gateway's index for typed selectors. For each selector you get
the records you may read that hold it, and, for records you may not read but
an agreement lets you discover, only "hit: held by agency X under DSA Y" with
a reference for a follow-up request. Everything else stays unsaid.

A search needs --purpose, --justification and --case, and is audited (the
audit log keeps a keyed hash of each selector, never the selector).

  liaison search --phone "020 7946 0018" --iban "GB82 WEST 1234 5698 7654 32" \
    --purpose investigation --justification "OP-NIGHTJAR lead 42" --case OP-NIGHTJAR
  liaison search --vehicle GB:AB12CDE --document GB:passport:123456789 \
    --person "Ivan Petrov,1980-02-03" ...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sels, err := searchSelectors(phones, ibans, emails, vehicles, documents, persons)
			if err != nil {
				return err
			}
			if len(sels) == 0 {
				return fmt.Errorf("give at least one selector (--phone, --iban, --email, --vehicle, --document, --person)")
			}
			if cf.purpose == "" || cf.justification == "" || cf.caseRef == "" {
				return fmt.Errorf("a search needs --purpose, --justification and --case")
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			body, err := json.Marshal(api.SearchRequest{Selectors: sels})
			if err != nil {
				return err
			}
			var res api.SearchResult
			if _, err := c.call(cmd.Context(), http.MethodPost, "/v1/search", body, http.StatusOK, &res); err != nil {
				return err
			}
			if c.jsonOut {
				return json.NewEncoder(os.Stdout).Encode(res)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SELECTOR\tTYPE\tOUTCOME\tDETAIL")
			for _, s := range res.Selectors {
				label := fmt.Sprintf("#%d", s.Index+1)
				if len(s.Records) == 0 && len(s.Hits) == 0 {
					fmt.Fprintf(tw, "%s\t%s\tno hit\t\n", label, s.Type)
				}
				for _, r := range s.Records {
					fmt.Fprintf(tw, "%s\t%s\treadable\t%s (v%d, from %s)\n", label, s.Type, r.ID, r.Version, r.Originator)
				}
				for _, h := range s.Hits {
					fmt.Fprintf(tw, "%s\t%s\thit\theld by %s under %s; reference %s\n", label, s.Type, h.Holder, h.DSA, h.Reference)
				}
			}
			tw.Flush()
			if res.Truncated {
				fmt.Println("truncated: a selector matched more records than one search considers; narrow it")
			}
			return nil
		},
	}
	cf.register(cmd, true)
	f := cmd.Flags()
	f.StringArrayVar(&phones, "phone", nil, "phone number (national numbers read in your agency's country)")
	f.StringArrayVar(&ibans, "iban", nil, "IBAN")
	f.StringArrayVar(&emails, "email", nil, "e-mail address")
	f.StringArrayVar(&vehicles, "vehicle", nil, "vehicle registration as COUNTRY:PLATE, e.g. GB:AB12CDE")
	f.StringArrayVar(&documents, "document", nil, "identity document as COUNTRY:TYPE:NUMBER (passport, id_card, driving_licence, residence_permit, other)")
	f.StringArrayVar(&persons, "person", nil, `person as "NAME,YYYY-MM-DD" (name and date of birth)`)
	return cmd
}

// searchSelectors turns the flags into selectors, in the order of the
// types; the gateway validates them.
func searchSelectors(phones, ibans, emails, vehicles, documents, persons []string) ([]selector.Selector, error) {
	var out []selector.Selector
	for _, v := range phones {
		out = append(out, selector.Selector{Type: selector.TypePhone, Value: v})
	}
	for _, v := range ibans {
		out = append(out, selector.Selector{Type: selector.TypeIBAN, Value: v})
	}
	for _, v := range emails {
		out = append(out, selector.Selector{Type: selector.TypeEmail, Value: v})
	}
	for _, v := range vehicles {
		country, plate, ok := strings.Cut(v, ":")
		if !ok {
			return nil, fmt.Errorf("--vehicle must be COUNTRY:PLATE, e.g. GB:AB12CDE")
		}
		out = append(out, selector.Selector{Type: selector.TypeVehicle, Country: country, Value: plate})
	}
	for _, v := range documents {
		parts := strings.SplitN(v, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("--document must be COUNTRY:TYPE:NUMBER, e.g. GB:passport:123456789")
		}
		out = append(out, selector.Selector{Type: selector.TypeDocument, Country: parts[0], DocumentType: parts[1], Value: parts[2]})
	}
	for _, v := range persons {
		i := strings.LastIndexByte(v, ',')
		if i < 0 {
			return nil, fmt.Errorf(`--person must be "NAME,YYYY-MM-DD"`)
		}
		out = append(out, selector.Selector{Type: selector.TypePerson, Name: strings.TrimSpace(v[:i]), DateOfBirth: strings.TrimSpace(v[i+1:])})
	}
	return out, nil
}

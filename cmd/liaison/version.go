package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/liaison-project/liaison/gateway/buildinfo"
)

// versionLine is what `liaison version` and `liaison --version` print: one
// line an operator can paste into an incident report and match to a release
// (the image's org.opencontainers.image.version/.revision labels carry the
// same values).
func versionLine(bi buildinfo.Info) string {
	s := fmt.Sprintf("liaison %s (commit %s, built %s, %s)", bi.Version, bi.Commit, bi.Date, bi.GoVersion)
	if bi.Modified {
		s += " [modified]"
	}
	return s
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi := buildinfo.Get()
			if !asJSON {
				fmt.Println(versionLine(bi))
				return nil
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(bi)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON (for machines)")
	return cmd
}

package policy_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeInvalidLegacyExamples holds policies/README.md to the policy:
// every grade the reason-code table gives as an example of
// legacy_grading_invalid must really be unreadable by the cross-walk, and
// the grade the README uses as a valid example (B24) must be readable.
// (issue 9 item 25: the table once gave B24, a valid grade, as invalid.)
func TestReadmeInvalidLegacyExamples(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	readme, err := os.ReadFile("../policies/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `legacy_grading_invalid`") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("policies/README.md has no legacy_grading_invalid row")
	}
	codes := regexp.MustCompile("`([A-Za-z0-9]{2,4})`").FindAllStringSubmatch(row, -1)
	if len(codes) == 0 {
		t.Fatalf("no example grade in %q", row)
	}
	for _, m := range codes {
		if _, err := e.Crosswalk(ctx, m[1]); err == nil {
			t.Errorf("README gives %s as an invalid legacy grade, but the cross-walk reads it", m[1])
		}
	}
	if _, err := e.Crosswalk(ctx, "B24"); err != nil {
		t.Errorf("B24 (README's valid example) does not read: %v", err)
	}
}

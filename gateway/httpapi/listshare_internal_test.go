package httpapi

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/liaison-project/liaison/policies"
)

// TestListShareSafe: the bundled policy must stay provably blind to a
// record's identifying fields, or listing pages decide every candidate
// again (correct, ten times slower); policies that read them, or that
// could, are refused.
func TestListShareSafe(t *testing.T) {
	if ok, why := listShareWhy(policies.FS()); !ok {
		t.Fatalf("the bundled policy is not provably independent of record_id, version and created (%s): page decisions cannot be shared", why)
	}
	base := `package liaison.authz

has_record if is_object(input.record)

record := input.record if {
	has_record
} else := {}

ok if record.tlp == "CLEAR"

dsas := object.get(record, "dsa_ids", [])
`
	for name, extra := range map[string]string{
		"reads the id":              `deny if record.record_id == "rec_x"`,
		"reads created via input":   `deny if input.record.created`,
		"reads version by get":      `v := object.get(record, "version", 0)`,
		"reads by a variable key":   `deny if { some k; record[k] == 1 }`,
		"iterates the record":       `deny if { some k, v in record; v == 1 }`,
		"passes the record whole":   `deny if json.marshal(record) == ""`,
		"binds the record":          `deny if { r := record; r.record_id }`,
		"reads the input whole":     `deny if { x := input; x.record.record_id }`,
		"reads input by a variable": `deny if { some k; input[k].record_id }`,
		"reads the package whole":   `deny if data.liaison.authz.record.created`,
		"nondeterministic":          `deny if time.now_ns() > 0`,
		"random":                    `deny if rand.intn("x", 2) == 0`,
		"through a function":        "f(r) := r.record_id\n\ndeny if f(record)",
		"through two functions":     "f(_, r) := g(r)\n\ng(x) := x.created\n\ndeny if f(1, record)",
		"holding package whole":     `x := data.liaison.authz`,
		"data by a variable":        `deny if { some p; data.liaison[p].record.record_id }`,
		"data whole":                `deny if { some p; data[p] }`,
	} {
		fsys := fstest.MapFS{"liaison/authz.rego": {Data: []byte(base + extra + "\n")}}
		if ok, why := listShareWhy(fsys); ok {
			t.Errorf("%s: accepted", name)
		} else {
			t.Logf("%s: refused: %s", name, why)
		}
	}
	// Across packages: a scheme function reading the record it is given.
	lib := "package liaison.schemes.lib\n\nok(rec) if rec.tlp == \"CLEAR\"\n"
	calls := "\nallow if data.liaison.schemes.lib.ok(record)\n"
	good := fstest.MapFS{"liaison/authz.rego": {Data: []byte(base + calls)}, "liaison/schemes/lib.rego": {Data: []byte(lib)}}
	if ok, why := listShareWhy(good); !ok {
		t.Errorf("a scheme function reading a constant key was refused: %s", why)
	}
	bad := fstest.MapFS{"liaison/authz.rego": {Data: []byte(base + calls)},
		"liaison/schemes/lib.rego": {Data: []byte(lib + "\nok(rec) if rec.version > 1\n")}}
	if ok, _ := listShareWhy(bad); ok {
		t.Error("a scheme function reading the version was accepted")
	}
	ok := fstest.MapFS{"liaison/authz.rego": {Data: []byte(base)}, "liaison/authz_test.rego": {Data: []byte("package liaison.authz\n\nx if input.record.record_id\n")}}
	if !listShareSafe(ok) {
		t.Error("a policy reading only constant non-identifying keys (test modules aside) was refused")
	}
	if listShareSafe(fstest.MapFS{"liaison/authz.rego": {Data: []byte("package liaison.authz\n\nnot rego {")}}) {
		t.Error("a module that does not parse was accepted")
	}
}

// TestListShareSafeBundledMutated: the bundled policy with one identifying
// read added where the record reaches only through an imported scheme's
// function (selec.ok → operational → strategic) is refused: the check
// follows the record into the functions it is passed to.
func TestListShareSafeBundledMutated(t *testing.T) {
	mem := fstest.MapFS{}
	err := fs.WalkDir(policies.FS(), "liaison", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS(), p)
		mem[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sel := string(mem["liaison/schemes/selec.rego"].Data)
	mut := strings.Replace(sel, "strategic(rec) if {\n", "strategic(rec) if {\n\trec.record_id != \"\"\n", 1)
	if mut == sel {
		t.Fatal("selec.rego no longer has strategic(rec): update this test")
	}
	mem["liaison/schemes/selec.rego"] = &fstest.MapFile{Data: []byte(mut)}
	if ok, _ := listShareWhy(mem); ok {
		t.Fatal("the bundled policy reading record_id inside selec.strategic was accepted")
	}
}

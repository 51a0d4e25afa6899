package config

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fileOnly marks keys that have no environment variable.
const fileOnly = "file-only:"

// configKeys lists every liaison.yaml key of Config as a dotted path
// ("tls.min_version") with its environment variable
// (LIAISON_TLS_MIN_VERSION), as Load reads them.
func configKeys() map[string]string {
	fields := map[string]reflect.Value{}
	collectEnvFields(reflect.ValueOf(&Config{}).Elem(), "LIAISON", fields)
	out := map[string]string{}
	for env := range fields {
		out[env] = ""
	}
	var walk func(t reflect.Type, path, env string)
	walk = func(t reflect.Type, path, env string) {
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p, e := tag, env+"_"+strings.ToUpper(tag)
			if path != "" {
				p = path + "." + tag
			}
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct && ft.String() != "time.Duration" {
				walk(ft, p, e)
				continue
			} else if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				// A list of sections is set in the file only: its keys
				// are documented as "<path>[].<key>", with no variable.
				out[fileOnly+p] = p
				walk(ft.Elem(), p+"[]", fileOnly+p+"[]")
				continue
			}
			out[e] = p
		}
	}
	walk(reflect.TypeFor[Config](), "", "LIAISON")
	return out
}

// TestConfigurationDocumented: docs/configuration.md (which `liaison serve
// --help` points to) documents every liaison.yaml key and its LIAISON_*
// variable (issue 9 item 25: the file did not exist).
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("docs/configuration.md: %v", err)
	}
	var missing []string
	for env, key := range configKeys() {
		if key == "" {
			t.Errorf("%s has no yaml path", env)
			continue
		}
		if !strings.Contains(string(doc), "`"+key+"`") {
			missing = append(missing, "key `"+key+"`")
		}
		if !strings.HasPrefix(env, fileOnly) && !strings.Contains(string(doc), "`"+env+"`") {
			missing = append(missing, "variable `"+env+"`")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("docs/configuration.md does not document:\n%s", strings.Join(missing, "\n"))
	}
}

package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The environment overlay: every field of Config can be set by a LIAISON_*
// variable named after its YAML path (see Config).

// ApplyEnv applies LIAISON_* overrides from env to cfg (see Config).
func ApplyEnv(cfg *Config, env []string) error { return applyEnv(cfg, env) }

// envNotConfig are LIAISON_* variables that are not configuration fields.
var envNotConfig = []string{"LIAISON_TEST_", "LIAISON_DEVSTACK_", "LIAISON_INTEGRATION", "LIAISON_PROFILE", "LIAISON_DATA_DIR", "LIAISON_CONFIG", "LIAISON_BENCH_", "LIAISON_TOKEN"}

// applyEnv sets fields from LIAISON_* variables; an unknown LIAISON_*
// variable is an error, like an unknown key in the file.
func applyEnv(cfg *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collectEnvFields(reflect.ValueOf(cfg).Elem(), "LIAISON", fields)
	var unknown []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "LIAISON_") {
			continue
		}
		f, ok := fields[k]
		if !ok {
			skip := false
			for _, p := range envNotConfig {
				if strings.HasPrefix(k, p) {
					skip = true
				}
			}
			if !skip {
				unknown = append(unknown, k)
			}
			continue
		}
		if err := setFromString(f, v); err != nil {
			return fmt.Errorf("config: %s: %v", k, err)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config: unknown environment variable(s) %s", strings.Join(unknown, ", "))
	}
	return nil
}

func collectEnvFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			collectEnvFields(fv, name, out)
			continue
		}
		// A list of sections (federation.peers) has no one-variable
		// spelling: it is set in the file only.
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			continue
		}
		out[name] = fv
	}
}

func setFromString(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(&b))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(n)
	case reflect.Slice:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

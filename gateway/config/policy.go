package config

import "time"

// PolicyConfig locates the Rego policy and its data. It has no defaults
// here: an empty Dir and Bundle mean the bundled policies, and a zero
// ReloadInterval is the policy package's own default.
type PolicyConfig struct {
	// Dir holds *.rego and data/*.json; empty uses the bundled policies.
	// It is watched: a change goes live only after it compiles and its
	// samples and Rego tests pass.
	Dir string `yaml:"dir"`
	// Bundle is a signed policy bundle (`liaison policy sign`); excludes Dir.
	Bundle string `yaml:"bundle"`
	// TrustedKeys is the JWKS of the security officers whose signatures count.
	TrustedKeys string `yaml:"trusted_keys"`
	// RequiredSignatures is how many distinct trusted signatures a bundle needs (default 1).
	RequiredSignatures int `yaml:"required_signatures"`
	// ReloadInterval is how often Dir or Bundle is checked for changes
	// (default 500ms, policy.DefaultReloadInterval; negative disables watching).
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// ShadowDir is a candidate policy evaluated beside the live one on real
	// traffic; every decision it would change goes to ShadowReport (JSONL).
	ShadowDir    string `yaml:"shadow_dir"`
	ShadowReport string `yaml:"shadow_report"`
	// ShadowInputs, if set, records every input the candidate is compared
	// on (JSON lines {"input_digest", "input"}), so that a changed decision
	// in the shadow report can be replayed (`liaison policy replay`, the
	// console's decision explorer). Inputs hold record metadata and
	// justifications: keep the file as you keep the audit log.
	ShadowInputs string `yaml:"shadow_inputs"`
	// DecisionCacheEntries bounds the decision cache of the policy in force
	// (policies/README.md, "The decision cache"): 0 is the default
	// (16,384), -1 switches it off. It serves only the bundled policy's
	// code; any other policy is evaluated in full whatever this says.
	DecisionCacheEntries int `yaml:"decision_cache_entries"`
}

// Validate checks the policy section.
func (c PolicyConfig) Validate() error {
	var p problems
	if c.Dir != "" && c.Bundle != "" {
		p.add("policy", "dir and bundle exclude each other")
	}
	if c.Bundle != "" && c.TrustedKeys == "" {
		p.add("policy.trusted_keys", "required with policy.bundle: only bundles signed by listed keys load")
	}
	if c.RequiredSignatures < 0 {
		p.add("policy.required_signatures", "must be >= 0")
	}
	if c.ShadowDir != "" && c.ShadowReport == "" {
		p.add("policy.shadow_report", "required with policy.shadow_dir: where changed decisions are written")
	}
	if c.ShadowInputs != "" && c.ShadowDir == "" {
		p.add("policy.shadow_inputs", "only with policy.shadow_dir: inputs are recorded while a candidate runs")
	}
	if c.DecisionCacheEntries < -1 {
		p.add("policy.decision_cache_entries", "must be -1 (off), 0 (default) or a number of decisions")
	}
	return p.err()
}

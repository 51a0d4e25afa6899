package config

import "time"

// TLSConfig is the agency listener's mutual TLS.
type TLSConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCAs is the federation trust bundle: one CA in dev, one per agency in production.
	ClientCAs []string `yaml:"client_cas"`
	CRLs      []string `yaml:"crls"`
	// MinVersion is "1.3" (default) or "1.2".
	MinVersion     string        `yaml:"min_version"`
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

func defaultTLS() TLSConfig {
	return TLSConfig{MinVersion: "1.3", ReloadInterval: 30 * time.Second}
}

// Validate checks the tls section.
func (t TLSConfig) Validate() error {
	var p problems
	if t.Cert == "" || t.Key == "" {
		p.add("tls", "cert and key are required")
	}
	if len(t.ClientCAs) == 0 {
		p.add("tls.client_cas", "at least one CA file is required: every agency is known by its client certificate")
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		p.add("tls.min_version", "%q must be 1.2 or 1.3", t.MinVersion)
	}
	return p.err()
}

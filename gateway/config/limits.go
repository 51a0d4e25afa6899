package config

import "time"

// LimitsConfig bounds what one caller can make the gateway do.
type LimitsConfig struct {
	MaxBodyBytes   int64         `yaml:"max_body_bytes"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// RatePerAgency is requests per second per agency (0 = unlimited).
	RatePerAgency float64 `yaml:"rate_per_agency"`
	Burst         int     `yaml:"burst"`
	MaxListLimit  int     `yaml:"max_list_limit"`
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{MaxBodyBytes: 4 << 20, RequestTimeout: 30 * time.Second, RatePerAgency: 200, Burst: 400, MaxListLimit: 100}
}

// Validate checks the limits section.
func (l LimitsConfig) Validate() error {
	var p problems
	if l.MaxBodyBytes < 1024 || l.MaxBodyBytes > 1<<30 {
		p.add("limits.max_body_bytes", "%d must be between 1 KiB and 1 GiB", l.MaxBodyBytes)
	}
	if l.RequestTimeout <= 0 {
		p.add("limits.request_timeout", "must be positive")
	}
	if l.RatePerAgency < 0 || (l.RatePerAgency > 0 && l.Burst < 1) {
		p.add("limits", "rate_per_agency must be >= 0 and burst >= 1 when rate is set")
	}
	if l.MaxListLimit < 1 || l.MaxListLimit > 1000 {
		p.add("limits.max_list_limit", "must be 1..1000")
	}
	return p.err()
}

// ConsentsConfig governs onward-sharing consent requests.
type ConsentsConfig struct {
	// TTL is how long a request waits for the originator before it expires.
	TTL time.Duration `yaml:"ttl"`
}

func defaultConsents() ConsentsConfig { return ConsentsConfig{TTL: 7 * 24 * time.Hour} }

// Validate checks the consents section.
func (c ConsentsConfig) Validate() error {
	var p problems
	if c.TTL < time.Minute {
		p.add("consents.ttl", "must be at least 1m")
	}
	return p.err()
}

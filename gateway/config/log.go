package config

// LogConfig configures the process log (zap).
type LogConfig struct {
	Format string `yaml:"format"` // json | console
	Level  string `yaml:"level"`  // debug | info | warn | error
}

func defaultLog() LogConfig { return LogConfig{Format: "json", Level: "info"} }

// Validate checks the log section.
func (l LogConfig) Validate() error {
	var p problems
	if l.Format != "json" && l.Format != "console" {
		p.add("log.format", "%q must be json or console", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q must be debug, info, warn or error", l.Level)
	}
	return p.err()
}

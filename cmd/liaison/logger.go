package main

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the process logger: JSON in production, console in dev,
// written to stderr.
func newLogger(format, level string) (*zap.Logger, error) {
	return newLoggerTo(format, level, zapcore.Lock(os.Stderr))
}

// newLoggerTo builds the process logger writing to out.
//
// Nothing is sampled: the core is built here, without the sampler that
// zap's presets add through Config.Build. The production preset samples (the
// first 100 lines a second with the same message, then one in 100), and the
// access log writes every request under the one message "request": under
// load it kept 103 of 400 lines. An operator reading the process log must
// see every request it served (the audit log is the record of access, but
// the process log must not silently drop lines either), so nothing is
// sampled; a deployment that cannot afford the volume raises log.level.
func newLoggerTo(format, level string, out zapcore.WriteSyncer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
	if cfg.Encoding == "console" {
		enc = zapcore.NewConsoleEncoder(cfg.EncoderConfig)
	}
	opts := []zap.Option{zap.ErrorOutput(zapcore.Lock(os.Stderr)), zap.AddCaller()}
	if !cfg.DisableStacktrace {
		opts = append(opts, zap.AddStacktrace(zapcore.ErrorLevel))
	}
	if cfg.Development {
		opts = append(opts, zap.Development())
	}
	return zap.New(zapcore.NewCore(enc, out, cfg.Level), opts...), nil
}

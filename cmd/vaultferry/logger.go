package main

import (
	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// newLogger is controller-runtime's logger as the --zap-* flags configure
// it, without the sampler its production mode adds: beyond 100 lines a
// second of one message that keeps only every 100th, and the "Created
// version" lines of a busy cold sync are an audit trail that must be
// complete. (The sampler's counters were also 448 KiB of the heap.)
func newLogger(o zap.Options) logr.Logger {
	var unsampled zapcore.Core
	// Runs before controller-runtime wraps the core in its sampler.
	o.ZapOpts = append(o.ZapOpts, uberzap.WrapCore(func(core zapcore.Core) zapcore.Core {
		unsampled = core
		return core
	}))
	logger := zap.NewRaw(zap.UseFlagOptions(&o))
	return zapr.NewLogger(logger.WithOptions(uberzap.WrapCore(func(zapcore.Core) zapcore.Core { return unsampled })))
}

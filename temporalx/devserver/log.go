package devserver

import (
	"context"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts an *slog.Logger to the Temporal server's log.Logger.
//
// The server is chatty at info level (membership, shard ownership, every
// service start and stop); a developer running `keytask dev` wants keytask's
// own log, so records below min are dropped. min is warn unless the caller's
// logger has debug enabled, in which case everything passes through.
type serverLogger struct {
	l   *slog.Logger
	min slog.Level
}

// We deliberately do not implement log.SLogWrapper: the server would then
// pull out the raw *slog.Logger and bypass the level floor above.
var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func newServerLogger(l *slog.Logger) serverLogger {
	min := slog.LevelWarn
	if l.Enabled(context.Background(), slog.LevelDebug) {
		min = slog.LevelDebug
	}
	return serverLogger{l: l.With("component", "temporal-server"), min: min}
}

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic, Panic and Fatal are logged as errors and do not panic or exit: an
// embedded dev server must never kill the keytask process it lives in; the
// server reports real failures through Start's error.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) Panic(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) Fatal(msg string, tags ...tag.Tag)  { s.log(slog.LevelError, msg, tags) }

// With implements log.WithLogger so the server's tagged sub-loggers are
// cheap (otherwise it wraps us in a prepender that copies tags per call).
func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{l: s.l.With(attrsToArgs(tags)...), min: s.min}
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.min {
		return
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, len(tags))
	for i, t := range tags {
		attrs[i] = slog.Any(t.Key(), t.Value())
	}
	s.l.LogAttrs(ctx, level, msg, attrs...)
}

func attrsToArgs(tags []tag.Tag) []any {
	args := make([]any, len(tags))
	for i, t := range tags {
		args[i] = slog.Any(t.Key(), t.Value())
	}
	return args
}

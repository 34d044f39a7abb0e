package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts an *slog.Logger to the Temporal server's log.Logger.
//
// The server is chatty at info level (membership, shard ownership, every
// service start and stop); a developer running `keytask dev` wants keytask's
// own log, so records below the floor are dropped. The floor is warn unless
// the caller's logger has debug enabled; then everything passes through.
//
// Stop silences it (unless debugging): a stopping server warns and even
// logs errors about every poll, query and connection its own services
// cancel on the way down. What matters about a stop is Stop's error.
type serverLogger struct {
	l     *slog.Logger
	floor *slog.LevelVar // shared by every logger derived through With
}

// We deliberately do not implement log.SLogWrapper: the server would then
// pull out the raw *slog.Logger and bypass the floor above.
var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func newServerLogger(l *slog.Logger) serverLogger {
	floor := new(slog.LevelVar)
	floor.Set(slog.LevelWarn)
	if l.Enabled(context.Background(), slog.LevelDebug) {
		floor.Set(slog.LevelDebug)
	}
	// No "component" attribute of our own: the caller's logger usually
	// carries one already, and slog would print both.
	return serverLogger{l: l, floor: floor}
}

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic is logged as an error, as zap does in production.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic and Fatal must not return: the server calls them when it cannot go
// on (Fatal when a listener cannot bind, for instance) and dereferences nil
// right after. Instead of zap's os.Exit, which would kill keytask without a
// word, they panic with a fatalError that Start turns back into an error.
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(fatalError{msg: msg, tags: tags})
}

func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(fatalError{msg: msg, tags: tags})
}

// fatalError is the panic value of serverLogger.Panic and Fatal.
type fatalError struct {
	msg  string
	tags []tag.Tag
}

func (e fatalError) Error() string {
	var b strings.Builder
	b.WriteString(e.msg)
	for _, t := range e.tags {
		fmt.Fprintf(&b, " %s=%v", t.Key(), t.Value())
	}
	return b.String()
}

// catchFatal runs f and turns a fatalError panic raised in f's goroutine
// into an error. Other panics are re-raised untouched.
func catchFatal(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return f()
}

// With implements log.WithLogger so the server's tagged sub-loggers are
// cheap (otherwise it wraps us in a prepender that copies tags per call).
func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	return serverLogger{l: s.l.With(attrsToArgs(tags)...), floor: s.floor}
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < s.floor.Level() {
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

// silence drops every record from now on, unless the logger was built for
// debugging.
func (s serverLogger) silence() {
	if s.floor.Level() > slog.LevelDebug {
		s.floor.Set(slog.LevelError + 1)
	}
}

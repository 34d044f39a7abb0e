package devserver

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

// The server calls Fatal when it cannot go on and expects it not to return;
// Start relies on catchFatal to turn that into an error instead of an exit.
func TestCatchFatal(t *testing.T) {
	l := newServerLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := catchFatal(func() error {
		l.With(tag.NewStringTag("service", "frontend")).Fatal("Failed to start gRPC listener", tag.NewStringTag("address", "127.0.0.1:7233"))
		t.Fatal("Fatal returned")
		return nil
	})
	var fe fatalError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "Failed to start gRPC listener address=127.0.0.1:7233") {
		t.Fatalf("err = %v", err)
	}

	// Other panics are not swallowed.
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("recovered %v, want the original panic", r)
		}
	}()
	_ = catchFatal(func() error { panic("other") })
}

// Temporal's info chatter is dropped unless the logger is in debug mode.
func TestServerLoggerLevels(t *testing.T) {
	var b strings.Builder
	l := newServerLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Info("membership changed")
	l.Warn("something odd", tag.NewStringTag("k", "v"))
	if strings.Contains(b.String(), "membership") || !strings.Contains(b.String(), "something odd") || !strings.Contains(b.String(), "k=v") {
		t.Fatalf("log = %q", b.String())
	}
	l.silence()
	l.Error("shutting down noise")
	if strings.Contains(b.String(), "shutting down noise") {
		t.Fatalf("silenced logger still logs: %q", b.String())
	}

	b.Reset()
	d := newServerLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	d.Info("membership changed")
	d.silence()
	d.Info("stopping")
	if !strings.Contains(b.String(), "membership changed") || !strings.Contains(b.String(), "stopping") {
		t.Fatalf("debug log = %q", b.String())
	}
}

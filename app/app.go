// Package app is keytask's application layer for the aggregates that have no
// workflow: applications and their attachments, the expert pool, projects after
// publication, plan batches, liaisons and notification settings. Each use case
// reads its stream, decides in domain/ and appends idempotently at the version it
// decided on, so the API's JSON handlers and its pages run the same command.
package app

import (
	"time"

	"keytask/attachments"
	"keytask/events"
)

// App runs the use cases against the event log and the attachment store.
type App struct {
	store    *events.Store
	files    *attachments.Store
	batchNow func() time.Time
	uploads  keyLock // one upload at a time per application
}

// New returns the application layer. batchNow is the selection batches'
// present (a dilated clock in the demo); nil means the wall clock.
func New(store *events.Store, files *attachments.Store, batchNow func() time.Time) *App {
	if batchNow == nil {
		batchNow = time.Now
	}
	return &App{store: store, files: files, batchNow: batchNow}
}

// Files is the attachment store the use cases keep blobs in.
func (a *App) Files() *attachments.Store { return a.files }

// Request is who asks for a command and under which idempotency key (empty
// when the client sent none).
type Request struct {
	Meta events.Metadata
	Key  string
}

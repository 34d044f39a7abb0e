// Package projections builds keytask's read models from the event log. Each
// projection consumes the Watermill "events" topic in its own consumer group and
// moves its checkpoint in the same transaction as its read-model writes, so a
// redelivered event has no second effect and a rebuild from the log ends identical
// to the live model.
package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"keytask/events"
)

// Projection is one read model.
type Projection interface {
	// Name identifies the projection: its consumer group, checkpoint and CLI name.
	Name() string
	// Setup creates the projection's tables if missing (idempotent).
	Setup(ctx context.Context, tx pgx.Tx) error
	// Reset empties the projection's tables before a rebuild.
	Reset(ctx context.Context, tx pgx.Tx) error
	// Apply applies one event inside tx. Events arrive in commit order; events the
	// projection does not care about are ignored.
	Apply(ctx context.Context, tx pgx.Tx, e events.Event) error
	// Digest returns a digest of the read model's content, independent of row
	// order, so a rebuilt model can be compared with the live one.
	Digest(ctx context.Context, tx pgx.Tx) (string, error)
}

// BatchApplier is implemented by projections that can apply many events at once,
// for example with one COPY. Rebuild uses it when present because replaying the
// whole log one statement per event is dominated by round trips. ApplyBatch must
// leave the read model exactly as calling Apply for each event in order would.
type BatchApplier interface {
	ApplyBatch(ctx context.Context, tx pgx.Tx, evs []events.Event) error
}

// ReplayHooks is implemented by projections that prepare for a replay and finish
// it, in Rebuild's transaction: BeforeReplay runs after Reset, AfterReplay after
// the last event. Dropping an index before a bulk load and creating it after is
// about twice as fast as maintaining it row by row.
type ReplayHooks interface {
	BeforeReplay(ctx context.Context, tx pgx.Tx) error
	AfterReplay(ctx context.Context, tx pgx.Tx) error
}

// Querier is what read-model queries run on: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

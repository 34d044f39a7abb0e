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
	// SchemaVersion is the version of the read model's shape that Setup
	// creates and Apply writes. Raise it with any change to the tables (a
	// column, a key, what a row means): the projector then rebuilds the model
	// into shadow tables beside the live ones and swaps them in (Rebuild).
	SchemaVersion() int
	// Setup creates the projection's tables if missing (idempotent). It
	// creates them unqualified: a rebuild runs it with a shadow schema first on
	// the search_path. It creates tables and their indexes only, nothing a
	// table's move to another schema would leave behind.
	Setup(ctx context.Context, tx pgx.Tx) error
	// Reset empties the projection's tables before a replay into them (an
	// audit replay's scratch, or a rebuild of an InPlace projection).
	Reset(ctx context.Context, tx pgx.Tx) error
	// Apply applies one event inside tx. Events arrive in commit order; events the
	// projection does not care about are ignored.
	Apply(ctx context.Context, tx pgx.Tx, e events.Event) error
	// Digest returns a digest of the read model's content, independent of row
	// order, so a rebuilt model can be compared with the live one.
	Digest(ctx context.Context, tx pgx.Tx) (string, error)
}

// InPlace is implemented by consumers whose tables are partly a record of what
// they did, not only a model of the log (the notifier's inbox and outbox):
// Rebuild replays them into their live tables after Reset, in one transaction,
// instead of building new tables beside them, and their schema changes are
// made in place by Setup.
type InPlace interface {
	RebuildsInPlace()
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

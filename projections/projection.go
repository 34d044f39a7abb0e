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

package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"

	"github.com/jackc/pgx/v5"

	"keytask/events"
	"keytask/eventtypes"
)

// The undertaking-intent round has three read models, each its own projection:
// IntentPlan (the plan catalogue per batch), IntentLiaisons (each province's
// liaison and the liaison deadline) and IntentRounds (every round, every
// province's form with its history, and the national summary). The summary lives
// with the forms because it is computed from them in the same transaction: a
// separate projection could not read another's tables consistently, as each
// moves on its own checkpoint.

// Errors of the intent queries.
var (
	ErrPlanBatchNotFound = errors.New("plan batch not found")
	ErrRoundNotFound     = errors.New("intent round not found")
)

// decodePayload reads an event's payload into T through the event registry,
// which upcasts old schema versions and refuses a T its type does not carry.
func decodePayload[T any](e events.Event) (T, error) {
	return events.DecodeAs[T](eventtypes.Registry, e)
}

// digestTables hashes the rows of several queries, each returning one text
// column (a jsonb array built from the row) in a total order. Queries build the
// text themselves so that it does not depend on session settings: timestamps go
// through AT TIME ZONE 'UTC', and ids sort with COLLATE "C".
func digestTables(ctx context.Context, tx pgx.Tx, queries ...string) (string, error) {
	h := sha256.New()
	var b []byte
	for i, q := range queries {
		b = binary.BigEndian.AppendUint32(b[:0], uint32(i))
		h.Write(b)
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return "", err
		}
		var row string
		if _, err := pgx.ForEachRow(rows, []any{&row}, func() error {
			h.Write(appendString(b[:0], row))
			return nil
		}); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

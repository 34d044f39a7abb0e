package events

import (
	"context"
	"fmt"
	"strconv"
)

// ErrTxIDsBehind is returned by CheckTxIDs when the Postgres cluster would give
// new events a transaction id at or below the log's largest: a logical restore
// (pg_dump, pg_restore) into a cluster that has run fewer transactions than the
// one dumped. Sealing and every consumer read the log in (tx_id, seq) order
// after the last position they saw, so such an event would sort before what
// they have passed and never be sealed or projected.
type ErrTxIDsBehind struct {
	Next   uint64 // the cluster's next transaction id
	Newest uint64 // the log's largest tx_id
}

// Epoch is the transaction id epoch that puts the cluster's next id past the
// log's: pg_resetwal -e sets it.
func (e *ErrTxIDsBehind) Epoch() uint64 { return e.Newest>>32 + 1 }

func (e *ErrTxIDsBehind) Error() string {
	return fmt.Sprintf("the database's next transaction id %d is not past the event log's largest tx_id %d "+
		"(the log was restored into a cluster that has run fewer transactions): new events would never be sealed or projected. "+
		"Stop every keytask process, stop this Postgres cluster, run `pg_resetwal -e %d DATADIR` on it as the postgres user, "+
		"start it and start keytask again (deploy/README.md, \"Restore\")", e.Next, e.Newest, e.Epoch())
}

// CheckTxIDs returns *ErrTxIDsBehind unless the cluster's next transaction id
// is past every tx_id in the log. Every keytask process calls it before it
// appends, seals or projects anything.
func (s *Store) CheckTxIDs(ctx context.Context) error {
	// The snapshot's xmax is the next id to be assigned; unlike
	// pg_current_xact_id() it does not consume one.
	var next, newest string
	err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text,
		coalesce((SELECT e.tx_id FROM events e ORDER BY e.tx_id DESC LIMIT 1), '0')::text`).Scan(&next, &newest)
	if err != nil {
		return fmt.Errorf("check transaction ids: %w", err)
	}
	e := &ErrTxIDsBehind{}
	if e.Next, err = strconv.ParseUint(next, 10, 64); err != nil {
		return fmt.Errorf("check transaction ids: %w", err)
	}
	if e.Newest, err = strconv.ParseUint(newest, 10, 64); err != nil {
		return fmt.Errorf("check transaction ids: %w", err)
	}
	if e.Next <= e.Newest {
		return e
	}
	return nil
}

package events_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"keytask/events"
)

// A log whose tx_ids lie past the cluster's next transaction id, as a
// pg_restore into a fresh cluster leaves it, is refused with the pg_resetwal
// epoch that fixes it; a log the cluster has passed is accepted.
func TestCheckTxIDs(t *testing.T) {
	ctx := context.Background()
	d, s := newStore(t)
	if err := s.CheckTxIDs(ctx); err != nil {
		t.Fatalf("empty log: %v", err)
	}
	if _, err := s.Append(ctx, "round-1", events.NoStream, ev("a", "RoundOpened", `{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTxIDs(ctx); err != nil {
		t.Fatalf("a log this cluster wrote: %v", err)
	}

	// The row a restore writes: its tx_id comes from a cluster two epochs on.
	var next uint64
	var nextText string
	if err := d.Owner.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&nextText); err != nil {
		t.Fatal(err)
	}
	next, _ = strconv.ParseUint(nextText, 10, 64)
	restored := next + 2<<32
	if _, err := d.Owner.Exec(ctx, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
		VALUES ($1, 'round-2', 1, 'RoundOpened', 1, '{}', '{}', now(), $2::text::xid8)`,
		events.DeriveID("test", "restored"), strconv.FormatUint(restored, 10)); err != nil {
		t.Fatal(err)
	}
	err := s.CheckTxIDs(ctx)
	var behind *events.ErrTxIDsBehind
	if !errors.As(err, &behind) {
		t.Fatalf("restored log with tx_id %d: err = %v, want *ErrTxIDsBehind", restored, err)
	}
	if behind.Newest != restored || behind.Next >= restored {
		t.Errorf("reported next %d, newest %d; want newest %d above next", behind.Next, behind.Newest, restored)
	}
	if want := restored>>32 + 1; behind.Epoch() != want || behind.Epoch()<<32 <= restored {
		t.Errorf("epoch %d does not move the next id past %d", behind.Epoch(), restored)
	}
	if msg := err.Error(); !strings.Contains(msg, "pg_resetwal -e "+strconv.FormatUint(behind.Epoch(), 10)) {
		t.Errorf("the error does not name the fix: %s", msg)
	}
}

package projections_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"keytask/projections"
)

// Transaction ids grow a digit as a cluster ages (999 → 1000, 9999 → 10000).
// The newest event is the one with the highest id as a number; read as text,
// "999" would pass for newer than "1000", and WaitCaughtUp would report a
// projection caught up while the events after it are still to be applied.
func TestWaitCaughtUpAcrossDigitCount(t *testing.T) {
	t.Parallel()
	d, s := newEnv(t)
	ctx := context.Background()
	pr, err := projections.NewProjector(d.Pool, s, nil, testLogger(), projections.NewTimeline())
	if err != nil {
		t.Fatal(err)
	}
	// A fresh cluster hands out such ids; the shared server is long past them,
	// so the owner writes them directly. Both are far below any transaction
	// still open, hence committed for every reader.
	seqOf := map[string]int64{}
	for i, tx := range []string{"999", "1000"} {
		var seq int64
		err := d.Owner.QueryRow(ctx, `INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, tx_id)
			VALUES ($1, 'digits', $2, 'Noted', 1, '{}', '{}', now(), $3::xid8) RETURNING seq`,
			uuid.New(), i+1, tx).Scan(&seq)
		if err != nil {
			t.Fatal(err)
		}
		seqOf[tx] = seq
	}
	moveCheckpoint := func(tx string) {
		t.Helper()
		if _, err := d.Owner.Exec(ctx, `UPDATE projection_checkpoints SET tx_id = $2::xid8, seq = $3 WHERE name = $1`,
			"timeline", tx, seqOf[tx]); err != nil {
			t.Fatal(err)
		}
	}

	moveCheckpoint("999")
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = pr.WaitCaughtUp(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("checkpoint at transaction 999 with an event at 1000 still to apply: WaitCaughtUp returned %v, want it to keep waiting", err)
	}

	moveCheckpoint("1000")
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pr.WaitCaughtUp(long); err != nil {
		t.Fatalf("checkpoint at the newest event (transaction 1000): %v", err)
	}
}

package main

import (
	"context"
	"fmt"
	"time"

	"keytask/bench"
	"keytask/db"
	"keytask/events"
	"keytask/projections"
)

// benchLog measures appends and a rebuild on a database of their own.
func benchLog(ctx context.Context, url string, o benchOptions) ([]figure, error) {
	pool, err := db.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	store := events.NewStore(pool)
	if _, err := pool.Exec(ctx, bench.PlainTable); err != nil {
		return nil, err
	}
	sealed, stopSealer := context.WithCancel(ctx)
	defer stopSealer()
	go store.RunSealer(sealed, 200*time.Millisecond, func(string, ...any) {})

	const writers = 4
	rounds, singleOps, batchOps := 6, 600, 30
	if o.Quick {
		rounds, singleOps, batchOps = 2, 40, 4
	}
	var out []figure
	for _, c := range []struct {
		name, target string
		size, ops    int
		want         float64
	}{
		{"append, single events", "≥ 0.7 × plain INSERT", 1, singleOps, 0.7},
		{"append, batches of 100", "≥ 0.6 × plain INSERT", 100, batchOps, 0.6},
	} {
		plainFn := func(stream string, evs []events.NewEvent, v int64) error {
			return bench.PlainInsert(ctx, pool, stream, evs, v)
		}
		logFn := func(stream string, evs []events.NewEvent, v int64) error {
			_, err := store.Append(ctx, stream, v, evs...)
			return err
		}
		// Warm both paths, then alternate them in short rounds so that drift in
		// the machine's speed hits both alike.
		if _, err := bench.Writers(writers, writers, c.size, "warm", plainFn); err != nil {
			return nil, err
		}
		if _, err := bench.Writers(writers, writers, c.size, "warmlog", logFn); err != nil {
			return nil, err
		}
		var plain, log float64
		for r := 0; r < rounds; r++ {
			p, err := bench.Writers(writers, c.ops/rounds+writers, c.size, fmt.Sprint("plain", r), plainFn)
			if err != nil {
				return nil, err
			}
			l, err := bench.Writers(writers, c.ops/rounds+writers, c.size, fmt.Sprint("log", r), logFn)
			if err != nil {
				return nil, fmt.Errorf("append: %w", err)
			}
			plain, log = plain+p, log+l
		}
		f := figure{Name: c.name, Value: log / float64(rounds), Unit: "events/s", Anchor: "plain INSERT, same rows and writers",
			AnchorValue: plain / float64(rounds), Better: "higher", Target: c.target}
		f = f.withRatio()
		f.Met = met(f.Ratio >= c.want)
		out = append(out, f)
	}

	// Rebuild the timeline from what the appends wrote, beside the same rows
	// copied by one INSERT … SELECT inside Postgres: the fastest a rebuild of
	// these rows could be.
	tl := projections.NewTimeline()
	if err := projections.Setup(ctx, pool, tl); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE anchor (LIKE timeline INCLUDING ALL)`); err != nil {
		return nil, err
	}
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return nil, err
	}
	reps := 3
	if o.Quick {
		reps = 1
	}
	var rebuild, anchor time.Duration
	for i := 0; i < reps; i++ {
		began := time.Now()
		if _, err := projections.Rebuild(ctx, pool, store, tl, nil); err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		rebuild += time.Since(began)
		began = time.Now()
		if _, err := pool.Exec(ctx, `TRUNCATE anchor; INSERT INTO anchor SELECT e.stream_id, e.stream_version, e.id, e.type,
			coalesce(e.metadata->>'actor_id', ''), coalesce(e.metadata->>'role', ''), coalesce(e.metadata->>'organisation', ''),
			coalesce(e.metadata->>'workflow_id', ''), coalesce(e.metadata->>'correlation_id', ''), e.recorded_at FROM events e`); err != nil {
			return nil, fmt.Errorf("rebuild anchor: %w", err)
		}
		anchor += time.Since(began)
	}
	total := float64(n) * float64(reps)
	f := figure{Name: fmt.Sprintf("projection rebuild (timeline, %d events)", n), Value: total / rebuild.Seconds(), Unit: "events/s",
		Anchor: "INSERT … SELECT of the same rows", AnchorValue: total / anchor.Seconds(), Better: "higher", Target: "≥ 50000 events/s"}
	f = f.withRatio()
	f.Met = met(f.Value >= 50000)
	return append(out, f), nil
}

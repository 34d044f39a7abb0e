package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db"
	"keytask/events"
	"keytask/projections"
)

// The append anchor: the same rows inserted into a bare table with no
// constraints, one autocommitted statement per append, at the same concurrency.
const benchPlainTable = `CREATE TABLE plain_events (id uuid, stream_id text, stream_version bigint, type text,
	schema_version int, data jsonb, metadata jsonb, recorded_at timestamptz)`

var benchEventData = json.RawMessage(`{"province":"11","task":"YZYX","undertake":true,"quantity":12,"funds_yuan":{"school":1200000,"industry":350000,"sponsor":0,"municipal":250000,"provincial":1000000}}`)

func benchNewEvents(stream string, n, base int) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = events.NewEvent{
			ID: events.DeriveID(stream, fmt.Sprint(base+i)), Type: "IntentDraftSaved", SchemaVersion: 1, Data: benchEventData,
			Metadata: events.Metadata{ActorID: "user-11", Role: "province", Organisation: "11", CorrelationID: stream, RequestID: "r"},
		}
	}
	return out
}

func benchPlainInsert(ctx context.Context, pool *pgxpool.Pool, stream string, evs []events.NewEvent, version int64) error {
	ids := make([]uuid.UUID, len(evs))
	versions := make([]int64, len(evs))
	types := make([]string, len(evs))
	datas := make([]string, len(evs))
	metas := make([]string, len(evs))
	for i, e := range evs {
		ids[i], versions[i], types[i], datas[i] = e.ID, version+int64(i)+1, e.Type, string(e.Data)
		m, _ := json.Marshal(e.Metadata)
		metas[i] = string(m)
	}
	_, err := pool.Exec(ctx, `INSERT INTO plain_events SELECT id, $2, v, t, 1, d, m, $7
		FROM unnest($1::uuid[], $3::bigint[], $4::text[], $5::jsonb[], $6::jsonb[]) AS u(id, v, t, d, m)`,
		ids, stream, versions, types, datas, metas, time.Now())
	return err
}

// benchWriters runs ops appends of size events split over writers goroutines,
// each on its own stream, and returns the events per second.
func benchWriters(writers, ops, size int, tag string, appendFn func(stream string, evs []events.NewEvent, version int64) error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("%s-%d-%d", tag, w, time.Now().UnixNano())
			var version int64
			for next.Add(1) <= int64(ops) {
				if err := appendFn(stream, benchNewEvents(stream, size, int(version)), version); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				version += int64(size)
			}
		}(w)
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return 0, err
	}
	return float64(ops*size) / time.Since(start).Seconds(), nil
}

// benchLog measures appends and a rebuild on a database of their own.
func benchLog(ctx context.Context, url string, o benchOptions) ([]figure, error) {
	pool, err := db.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	store := events.NewStore(pool)
	if _, err := pool.Exec(ctx, benchPlainTable); err != nil {
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
			return benchPlainInsert(ctx, pool, stream, evs, v)
		}
		logFn := func(stream string, evs []events.NewEvent, v int64) error {
			_, err := store.Append(ctx, stream, v, evs...)
			return err
		}
		// Warm both paths, then alternate them in short rounds so that drift in
		// the machine's speed hits both alike.
		if _, err := benchWriters(writers, writers, c.size, "warm", plainFn); err != nil {
			return nil, err
		}
		if _, err := benchWriters(writers, writers, c.size, "warmlog", logFn); err != nil {
			return nil, err
		}
		var plain, log float64
		for r := 0; r < rounds; r++ {
			p, err := benchWriters(writers, c.ops/rounds+writers, c.size, fmt.Sprint("plain", r), plainFn)
			if err != nil {
				return nil, err
			}
			l, err := benchWriters(writers, c.ops/rounds+writers, c.size, fmt.Sprint("log", r), logFn)
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

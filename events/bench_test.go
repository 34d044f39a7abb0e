package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/db/pgtest"
	"keytask/events"
)

// The anchor: the same rows inserted into a bare table with no constraints, one
// autocommitted statement per append, at the same concurrency.
const plainTable = `CREATE TABLE plain_events (id uuid, stream_id text, stream_version bigint, type text,
	schema_version int, data jsonb, metadata jsonb, recorded_at timestamptz)`

var benchData = json.RawMessage(`{"province":"11","task":"YZYX","undertake":true,"quantity":12,"funds_yuan":{"school":1200000,"industry":350000,"sponsor":0,"municipal":250000,"provincial":1000000}}`)

func benchEvents(stream string, n, base int) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = events.NewEvent{
			ID: events.DeriveID(stream, fmt.Sprint(base+i)), Type: "IntentDraftSaved", SchemaVersion: 1, Data: benchData,
			Metadata: events.Metadata{ActorID: "user-11", Role: "province", Organisation: "11", CorrelationID: stream, RequestID: "r"},
		}
	}
	return out
}

func plainInsert(ctx context.Context, pool *pgxpool.Pool, stream string, evs []events.NewEvent, version int64) error {
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

// runWriters runs ops appends of size events split over writers goroutines, each
// on its own stream, and returns the events per second.
func runWriters(b *testing.B, writers, ops, size int, tag string, appendFn func(stream string, evs []events.NewEvent, version int64) error) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("%s-%d-%d", tag, w, time.Now().UnixNano())
			var version int64
			for next.Add(1) <= int64(ops) {
				if err := appendFn(stream, benchEvents(stream, size, int(version)), version); err != nil {
					b.Error(err)
					return
				}
				version += int64(size)
			}
		}(w)
	}
	wg.Wait()
	return float64(ops*size) / time.Since(start).Seconds()
}

// BenchmarkAppend reports the log's append throughput beside a plain INSERT of
// the same rows measured in the same run; "ratio" is log/plain (target: at least
// 0.7 for single events, 0.6 for batches of 100).
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name          string
		writers, size int
	}{
		{"single/1writer", 1, 1},
		{"single/8writers", 8, 1},
		{"batch100/1writer", 1, 100},
		{"batch100/8writers", 8, 100},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			d := pgtest.New(b)
			s := events.NewStore(d.Pool)
			if _, err := d.Pool.Exec(ctx, plainTable); err != nil {
				b.Fatal(err)
			}
			// Warm both paths so neither pays for the first connections.
			runWriters(b, c.writers, c.writers, c.size, "warm", func(stream string, evs []events.NewEvent, v int64) error {
				return plainInsert(ctx, d.Pool, stream, evs, v)
			})
			b.ResetTimer()
			// Alternate the two in short rounds so that drift in the machine's
			// speed (other processes, checkpoints) hits both alike.
			const rounds = 8
			ops := max(b.N/rounds, c.writers)
			var plain, log float64
			for round := 0; round < rounds; round++ {
				plain += runWriters(b, c.writers, ops, c.size, fmt.Sprint("plain", round), func(stream string, evs []events.NewEvent, v int64) error {
					return plainInsert(ctx, d.Pool, stream, evs, v)
				})
				log += runWriters(b, c.writers, ops, c.size, fmt.Sprint("log", round), func(stream string, evs []events.NewEvent, v int64) error {
					_, err := s.Append(ctx, stream, v, evs...)
					return err
				})
			}
			b.StopTimer()
			b.ReportMetric(log/rounds, "events/s")
			b.ReportMetric(plain/rounds, "plain-events/s")
			b.ReportMetric(log/plain, "ratio")
		})
	}
}

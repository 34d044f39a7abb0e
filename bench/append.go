// Package bench holds the measuring code that `keytask bench` and the Go
// benchmarks share, so that both compare the log with the same anchor.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"keytask/events"
)

// PlainTable is the append anchor: the log's columns in a bare table with no
// constraints, into which the same rows are inserted by one autocommitted
// statement per append, at the same concurrency.
const PlainTable = `CREATE TABLE plain_events (id uuid, stream_id text, stream_version bigint, type text,
	schema_version int, data jsonb, metadata jsonb, recorded_at timestamptz)`

// eventData is a realistic payload: a line of an intent form.
var eventData = json.RawMessage(`{"province":"11","task":"YZYX","undertake":true,"quantity":12,"funds_yuan":{"school":1200000,"industry":350000,"sponsor":0,"municipal":250000,"provincial":1000000}}`)

// Events returns n events of stream numbered from base, with derived ids.
func Events(stream string, n, base int) []events.NewEvent {
	out := make([]events.NewEvent, n)
	for i := range out {
		out[i] = events.NewEvent{
			ID: events.DeriveID(stream, fmt.Sprint(base+i)), Type: "IntentDraftSaved", SchemaVersion: 1, Data: eventData,
			Metadata: events.Metadata{ActorID: "user-11", Role: "province", Organisation: "11", CorrelationID: stream, RequestID: "r"},
		}
	}
	return out
}

// PlainInsert inserts evs into PlainTable in one statement.
func PlainInsert(ctx context.Context, pool *pgxpool.Pool, stream string, evs []events.NewEvent, version int64) error {
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

// AppendFunc appends evs to stream after version.
type AppendFunc func(stream string, evs []events.NewEvent, version int64) error

// Writers runs ops appends of size events split over writers goroutines, each
// on its own stream, and returns the events per second and the first error.
func Writers(writers, ops, size int, tag string, appendFn AppendFunc) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			stream := fmt.Sprintf("%s-%d-%d", tag, w, time.Now().UnixNano())
			var version int64
			for next.Add(1) <= int64(ops) {
				if err := appendFn(stream, Events(stream, size, int(version)), version); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				version += int64(size)
			}
		}(w)
	}
	wg.Wait()
	return float64(ops*size) / time.Since(start).Seconds(), first
}

package events_test

import (
	"context"
	"fmt"
	"testing"

	"keytask/bench"
	"keytask/db/pgtest"
	"keytask/events"
)

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
			if _, err := d.Pool.Exec(ctx, bench.PlainTable); err != nil {
				b.Fatal(err)
			}
			// Warm both paths so neither pays for the first connections.
			writers(b, c.writers, c.writers, c.size, "warm", func(stream string, evs []events.NewEvent, v int64) error {
				return bench.PlainInsert(ctx, d.Pool, stream, evs, v)
			})
			b.ResetTimer()
			// Alternate the two in short rounds so that drift in the machine's
			// speed (other processes, checkpoints) hits both alike.
			const rounds = 8
			ops := max(b.N/rounds, c.writers)
			var plain, log float64
			for round := 0; round < rounds; round++ {
				plain += writers(b, c.writers, ops, c.size, fmt.Sprint("plain", round), func(stream string, evs []events.NewEvent, v int64) error {
					return bench.PlainInsert(ctx, d.Pool, stream, evs, v)
				})
				log += writers(b, c.writers, ops, c.size, fmt.Sprint("log", round), func(stream string, evs []events.NewEvent, v int64) error {
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

// writers runs bench.Writers and fails the benchmark on an error.
func writers(b *testing.B, n, ops, size int, tag string, fn bench.AppendFunc) float64 {
	b.Helper()
	v, err := bench.Writers(n, ops, size, tag, fn)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

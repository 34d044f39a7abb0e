package api

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// collectionMetrics exports, for every collection still open — an intent round
// or a year's performance collection — its deadline, how many submissions it
// expects and how many have arrived, so that an alert can fire when a deadline
// nears with few submissions. They are read from the event log itself, so they
// need no read model and hold whichever process serves /metrics.
type collectionMetrics struct {
	pool                         *pgxpool.Pool
	deadline, expected, received *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	samples []collectionSample
}

type collectionSample struct {
	collection string
	deadline   time.Time
	expected   int64
	received   int64
}

// collectionEvery bounds how often a scrape queries the log: the query scans
// the events of a few types, and Prometheus scrapes every few seconds.
const collectionEvery = time.Minute

// openCollectionsSQL finds the open collections and counts the distinct forms or
// reports submitted to each.
const openCollectionsSQL = `
WITH opened AS (
	SELECT 'performance-' || (o.data::jsonb->>'year') AS collection,
		'performance-report-' || (o.data::jsonb->>'year') || '-' AS prefix,
		-- the latest extension's deadline, if the ministry extended it
		coalesce((SELECT x.data::jsonb->>'to' FROM events x WHERE x.stream_id = o.stream_id AND x.type = 'PerformanceCollectionDeadlineExtended'
			ORDER BY x.stream_version DESC LIMIT 1), o.data::jsonb->>'deadline')::timestamptz AS deadline,
		(o.data::jsonb->>'projects')::bigint AS expected
	FROM events o WHERE o.type = 'PerformanceCollectionOpened'
		AND NOT EXISTS (SELECT 1 FROM events c WHERE c.stream_id = o.stream_id AND c.type = 'PerformanceCollectionClosed')
	UNION ALL
	SELECT 'intent-' || (o.data::jsonb->>'round_id'), 'intent-form-' || (o.data::jsonb->>'round_id') || '-',
		(o.data::jsonb->>'deadline')::timestamptz, jsonb_array_length(coalesce(o.data::jsonb->'provinces', '[]'))
	FROM events o WHERE o.type = 'IntentRoundOpened'
		AND NOT EXISTS (SELECT 1 FROM events c WHERE c.stream_id = o.stream_id AND c.type IN ('IntentRoundClosed', 'IntentRoundFiled'))
)
SELECT o.collection, o.deadline, o.expected,
	(SELECT count(DISTINCT s.stream_id) FROM events s
	 WHERE s.type IN ('PerformanceReportSubmitted', 'IntentSubmitted') AND starts_with(s.stream_id, o.prefix))
FROM opened o ORDER BY o.collection`

func newCollectionMetrics(pool *pgxpool.Pool) *collectionMetrics {
	labels := []string{"collection"}
	return &collectionMetrics{
		pool: pool,
		deadline: prometheus.NewDesc("keytask_collection_deadline_timestamp_seconds",
			"Deadline of an open collection (intent round or yearly performance collection), as a Unix time.", labels, nil),
		expected: prometheus.NewDesc("keytask_collection_expected_submissions",
			"Submissions an open collection expects: provinces for an intent round, projects for a performance collection.", labels, nil),
		received: prometheus.NewDesc("keytask_collection_submissions",
			"Distinct forms or reports submitted so far to an open collection.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *collectionMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.deadline
	ch <- m.expected
	ch <- m.received
}

// Collect implements prometheus.Collector. A failed query exports nothing for
// the scrape rather than failing it: the other metrics must still arrive.
func (m *collectionMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	if time.Since(m.at) > collectionEvery {
		if s, err := m.query(); err == nil {
			m.samples, m.at = s, time.Now()
		}
	}
	samples := m.samples
	m.mu.Unlock()
	for _, s := range samples {
		ch <- prometheus.MustNewConstMetric(m.deadline, prometheus.GaugeValue, float64(s.deadline.Unix()), s.collection)
		ch <- prometheus.MustNewConstMetric(m.expected, prometheus.GaugeValue, float64(s.expected), s.collection)
		ch <- prometheus.MustNewConstMetric(m.received, prometheus.GaugeValue, float64(s.received), s.collection)
	}
}

func (m *collectionMetrics) query() ([]collectionSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := m.pool.Query(ctx, openCollectionsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []collectionSample
	for rows.Next() {
		var s collectionSample
		if err := rows.Scan(&s.collection, &s.deadline, &s.expected, &s.received); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

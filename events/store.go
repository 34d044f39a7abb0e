package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Topic is the Watermill topic every appended event is published to.
const Topic = "events"

// Expected stream versions with a special meaning.
const (
	// AnyVersion appends whatever the stream's current version is.
	AnyVersion int64 = -1
	// NoStream requires that the stream has no events yet.
	NoStream int64 = 0
)

// ErrConflict is returned when the stream is not at the expected version.
type ErrConflict struct {
	Stream   string
	Expected int64
	Actual   int64
}

func (e *ErrConflict) Error() string {
	return fmt.Sprintf("stream %s is at version %d, not the expected %d", e.Stream, e.Actual, e.Expected)
}

// ErrPartialRetry is returned when some but not all event ids of an append are
// already recorded: a retry must repeat the same events, never add to them.
var ErrPartialRetry = errors.New("some events of this append are already recorded and some are new")

// ErrInvalid is wrapped by errors about malformed events.
var ErrInvalid = errors.New("invalid event")

// Store is the Postgres event log.
type Store struct {
	pool      *pgxpool.Pool
	upcasters *Upcasters
	now       func() time.Time
	macKey    []byte

	appended      *prometheus.CounterVec
	appendSeconds prometheus.Histogram
	sealed        prometheus.Counter
}

// Option configures a Store.
type Option func(*Store)

// WithUpcasters makes reads upcast old schema versions with u.
func WithUpcasters(u *Upcasters) Option { return func(s *Store) { s.upcasters = u } }

// WithMACKey makes the store sign every event it appends with key (see MAC).
func WithMACKey(key []byte) Option { return func(s *Store) { s.macKey = key } }

// WithClock replaces the clock that stamps recorded_at (tests travel in time with it).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithMetrics registers the store's metrics on reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(s *Store) {
		reg.MustRegister(s.appended, s.appendSeconds, s.sealed)
	}
}

// CountFromZero creates the appended counter at zero for each event type, so
// that an alert on increase() of a rare type fires on its first event rather
// than seeing a series born at one.
func (s *Store) CountFromZero(types ...string) {
	for _, t := range types {
		s.appended.WithLabelValues(t)
	}
}

// NewStore returns a store over pool, which must act as the writer role.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{
		pool:      pool,
		upcasters: NewUpcasters(),
		now:       time.Now,
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keytask_events_appended_total",
			Help: "Events appended to the log, by event type.",
		}, []string{"type"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "keytask_event_append_duration_seconds",
			Help:    "Time to append one batch of events, from begin to commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		sealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keytask_events_sealed_total",
			Help: "Events linked into the hash chain.",
		}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Pool returns the pool the store writes with.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Upcasters returns the store's upcaster registry.
func (s *Store) Upcasters() *Upcasters { return s.upcasters }

// Append records evs at the end of stream, atomically, if the stream is at
// expected (AnyVersion skips the check) and publishes them to Watermill in the same
// transaction. Appending ids that are all already recorded writes nothing and
// returns where they were recorded. Errors: *ErrConflict, ErrPartialRetry, ErrInvalid.
func (s *Store) Append(ctx context.Context, stream string, expected int64, evs ...NewEvent) ([]Recorded, error) {
	if err := validate(stream, evs); err != nil {
		return nil, err
	}
	start := time.Now()
	// A unique violation means the ids are already recorded or a concurrent append
	// won the race for the versions: refused tells which, and a lost race is tried
	// again.
	for attempt := 0; ; attempt++ {
		rec, fresh, err := s.append(ctx, stream, expected, evs)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			rec, fresh, err = s.refused(ctx, stream, expected, evs)
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && attempt < 5 {
				continue
			}
		}
		if err != nil {
			return nil, fmt.Errorf("append to %s: %w", stream, err)
		}
		if fresh {
			s.appendSeconds.Observe(time.Since(start).Seconds())
			for _, e := range evs {
				s.appended.WithLabelValues(e.Type).Inc()
			}
		}
		return rec, nil
	}
}

func validate(stream string, evs []NewEvent) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream id", ErrInvalid)
	}
	if len(evs) == 0 {
		return fmt.Errorf("%w: nothing to append to %s", ErrInvalid, stream)
	}
	seen := make(map[uuid.UUID]bool, len(evs))
	for i, e := range evs {
		switch {
		case e.ID == uuid.Nil:
			return fmt.Errorf("%w: event %d of %s has no id", ErrInvalid, i, stream)
		case seen[e.ID]:
			return fmt.Errorf("%w: event id %s repeated in one append", ErrInvalid, e.ID)
		case e.Type == "":
			return fmt.Errorf("%w: event %d of %s has no type", ErrInvalid, i, stream)
		case e.SchemaVersion < 0:
			return fmt.Errorf("%w: event %d of %s has schema version %d", ErrInvalid, i, stream, e.SchemaVersion)
		case len(e.Data) > 0 && !json.Valid(e.Data):
			return fmt.Errorf("%w: event %d of %s: data is not JSON", ErrInvalid, i, stream)
		}
		seen[e.ID] = true
	}
	return nil
}

// appendSQL appends the events in one statement, so an append costs one round
// trip and one commit. It writes nothing when the stream is not at the expected
// version, and fails on a unique violation when an id is already recorded (a
// retry) or a concurrent append took the versions; the caller then finds out which.
// The rows are their own Watermill publication: the topic's message table is a
// view over the log (migration 0002), so the log and the topic cannot diverge.
const appendSQL = `
WITH cur AS (
	SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $2
), ins AS (
	INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, mac)
	SELECT u.id, $2, cur.v + u.ord, u.t, u.sv, u.d, u.m, $7, u.mac
	FROM unnest($1::uuid[], $3::text[], $4::int[], $5::json[], $6::json[], $9::bytea[]) WITH ORDINALITY AS u(id, t, sv, d, m, mac, ord), cur
	WHERE $8::bigint = -1 OR cur.v = $8::bigint
	ORDER BY u.ord
	RETURNING id, stream_version
)
SELECT id, stream_version FROM ins ORDER BY stream_version`

// appendOneSQL is appendSQL for the commonest case, a single event: without the
// arrays, the CTE and the sort, Postgres spends noticeably less CPU on it, which
// shows when many writers share two cores.
const appendOneSQL = `
INSERT INTO events (id, stream_id, stream_version, type, schema_version, data, metadata, recorded_at, mac)
SELECT $1, $2, cur.v + 1, $3, $4, $5, $6, $7, $9
FROM (SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $2) AS cur
WHERE $8::bigint = -1 OR cur.v = $8::bigint
RETURNING id, stream_version`

// append runs one attempt. fresh reports whether events were written.
func (s *Store) append(ctx context.Context, stream string, expected int64, evs []NewEvent) (rec []Recorded, fresh bool, err error) {
	var (
		ids     = make([]uuid.UUID, len(evs))
		types   = make([]string, len(evs))
		schemas = make([]int32, len(evs))
		datas   = make([]string, len(evs))
		metas   = make([]string, len(evs))
	)
	for i, e := range evs {
		ids[i] = e.ID
		types[i] = e.Type
		schemas[i] = int32(max(e.SchemaVersion, 1))
		datas[i] = string(e.Data)
		if len(e.Data) == 0 {
			datas[i] = "{}"
		}
		mb, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, false, err
		}
		metas[i] = string(mb)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	macs := make([][]byte, len(evs))
	if s.macKey != nil {
		for i := range evs {
			macs[i] = MAC(s.macKey, ids[i], stream, types[i], int(schemas[i]), datas[i], metas[i], now)
		}
	}
	var rows pgx.Rows
	if len(evs) == 1 {
		rows, err = s.pool.Query(ctx, appendOneSQL, ids[0], stream, types[0], schemas[0], datas[0], metas[0], now, expected, macs[0])
	} else {
		rows, err = s.pool.Query(ctx, appendSQL, ids, stream, types, schemas, datas, metas, now, expected, macs)
	}
	if err != nil {
		return nil, false, err
	}
	for rows.Next() {
		var r Recorded
		if err := rows.Scan(&r.ID, &r.StreamVersion); err != nil {
			rows.Close()
			return nil, false, err
		}
		rec = append(rec, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(rec) == len(evs) {
		return rec, true, nil
	}
	return s.refused(ctx, stream, expected, evs)
}

// refused explains an append that wrote nothing: a retry of recorded events (and
// where they are), a mix of recorded and new ids, or a version conflict.
func (s *Store) refused(ctx context.Context, stream string, expected int64, evs []NewEvent) ([]Recorded, bool, error) {
	ids := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT NULL::uuid, $1::text, coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1
		UNION ALL
		SELECT id, stream_id, stream_version FROM events WHERE id = ANY($2)`, stream, ids)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var current int64
	known := map[uuid.UUID]Recorded{}
	var otherStream string
	for rows.Next() {
		var id *uuid.UUID
		var sid string
		var v int64
		if err := rows.Scan(&id, &sid, &v); err != nil {
			return nil, false, err
		}
		if id == nil {
			current = v
			continue
		}
		if sid != stream {
			otherStream = sid
		}
		known[*id] = Recorded{ID: *id, StreamVersion: v}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	switch {
	case len(known) > 0 && len(known) < len(evs):
		return nil, false, ErrPartialRetry
	case len(known) > 0 && otherStream != "":
		return nil, false, fmt.Errorf("%w: event ids already recorded in stream %s", ErrPartialRetry, otherStream)
	case len(known) > 0:
		out := make([]Recorded, len(evs))
		for i, e := range evs {
			out[i] = known[e.ID]
		}
		return out, false, nil
	case expected != AnyVersion && expected != current:
		return nil, false, &ErrConflict{Stream: stream, Expected: expected, Actual: current}
	}
	// Neither: a concurrent append moved the stream in between. Report it as a
	// unique violation, so Append tries again.
	return nil, false, &pgconn.PgError{Code: "23505", Message: "stream changed during append"}
}

// Notice is the payload of the Watermill message of each event: its id and order.
// Consumers load the event itself by id (Get).
type Notice struct {
	ID    uuid.UUID `json:"id"`
	Order Order     `json:"order"`
}

// ErrNotFound is returned by Get for an unknown event id.
var ErrNotFound = errors.New("event not found")

// Get returns one event by id, upcast, read through q (a pool or a transaction).
func (s *Store) Get(ctx context.Context, q Querier, id uuid.UUID) (Event, error) {
	rows, err := q.Query(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN event_chain c ON c.event_id = e.id WHERE e.id = $1`, id)
	if err != nil {
		return Event{}, fmt.Errorf("get event %s: %w", id, err)
	}
	evs, err := s.collect(rows)
	if err != nil {
		return Event{}, fmt.Errorf("get event %s: %w", id, err)
	}
	if len(evs) == 0 {
		return Event{}, fmt.Errorf("get event %s: %w", id, ErrNotFound)
	}
	return evs[0], nil
}

// StreamVersion returns the current version of stream (0 when it has no events).
func (s *Store) StreamVersion(ctx context.Context, stream string) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&v)
	return v, err
}

// ReadOptions limits a stream read. Zero values mean no limit.
type ReadOptions struct {
	UpToVersion int64     // last version to include
	UpToTime    time.Time // include events recorded at or before this instant
}

const eventColumns = `e.id, e.stream_id, e.stream_version, coalesce(c.position, 0), e.type, e.schema_version,
	e.data::text, e.metadata::text, e.recorded_at, e.tx_id::text, e.seq`

// ReadStream returns the events of stream in version order, upcast to their
// current schema.
func (s *Store) ReadStream(ctx context.Context, stream string, o ReadOptions) ([]Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events e LEFT JOIN event_chain c ON c.event_id = e.id
		WHERE e.stream_id = $1 AND ($2 = 0 OR e.stream_version <= $2) AND ($3::timestamptz IS NULL OR e.recorded_at <= $3)
		ORDER BY e.stream_version`
	var upTo *time.Time
	if !o.UpToTime.IsZero() {
		upTo = &o.UpToTime
	}
	rows, err := s.pool.Query(ctx, q, stream, o.UpToVersion, upTo)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	evs, err := s.collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return evs, nil
}

// StreamsWith returns the ids of the streams holding an event of type typ
// whose data has the top-level string field set to value, in the order their
// first such event was recorded. It reads the log itself, so a command may
// decide on what it finds (rules that link streams by a field, such as the
// intent rounds of a plan batch).
func (s *Store) StreamsWith(ctx context.Context, typ, field, value string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT stream_id FROM events WHERE type = $1 AND data->>$2 = $3
		GROUP BY stream_id ORDER BY min(seq)`, typ, field, value)
	if err != nil {
		return nil, fmt.Errorf("streams with %s.%s: %w", typ, field, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("streams with %s.%s: %w", typ, field, err)
	}
	return ids, nil
}

// ReadAll returns up to limit sealed events after global position, in position
// order. It never passes an event that is not yet sealed, and the sealer never
// seals past a transaction that is still open, so a reader that resumes from the
// last position it saw misses nothing.
func (s *Store) ReadAll(ctx context.Context, after int64, limit int) ([]Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM event_chain c JOIN events e ON e.id = c.event_id
		WHERE c.position > $1 ORDER BY c.position LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, err)
	}
	evs, err := s.collect(rows)
	if err != nil {
		return nil, fmt.Errorf("read all after %d: %w", after, err)
	}
	return evs, nil
}

// ReadCommitted returns up to limit events in commit-safe order after the given
// order key, sealed or not, never passing a transaction that is still open. Rebuilds
// and tests use it to see exactly what the projector will be delivered.
func (s *Store) ReadCommitted(ctx context.Context, after Order, limit int) ([]Event, error) {
	return s.ReadCommittedIn(ctx, s.pool, after, limit)
}

// ReadCommittedIn is ReadCommitted read through q, so that a projector can read
// the events it applies in the transaction that applies them. Inside a
// transaction holding an xid it reads only below that xid, which is never
// wrong, only sometimes shorter.
func (s *Store) ReadCommittedIn(ctx context.Context, q Querier, after Order, limit int) ([]Event, error) {
	rows, err := q.Query(ctx, `SELECT `+eventColumns+` FROM events e LEFT JOIN event_chain c ON c.event_id = e.id
		WHERE (e.tx_id, e.seq) > ($1::text::xid8, $2) AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY e.tx_id, e.seq LIMIT $3`, strconv.FormatUint(after.TxID, 10), after.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("read committed: %w", err)
	}
	return s.collect(rows)
}

func (s *Store) collect(rows pgx.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var data, meta, txText string
		if err := rows.Scan(&e.ID, &e.StreamID, &e.StreamVersion, &e.Position, &e.Type, &e.SchemaVersion,
			&data, &meta, &e.RecordedAt, &txText, &e.Order.Seq); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		if err := json.Unmarshal([]byte(meta), &e.Metadata); err != nil {
			return nil, fmt.Errorf("event %s metadata: %w", e.ID, err)
		}
		txID, err := strconv.ParseUint(txText, 10, 64)
		if err != nil {
			return nil, err
		}
		e.Order.TxID = txID
		e.RecordedAt = e.RecordedAt.UTC()
		if err := s.upcasters.Upcast(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

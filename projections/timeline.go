package projections

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"keytask/events"
)

// TimelineEntry is one event in a stream's activity timeline: who did what,
// when, and in which workflow.
type TimelineEntry struct {
	StreamID      string    `json:"stream_id"`
	StreamVersion int64     `json:"stream_version"`
	EventID       uuid.UUID `json:"event_id"`
	EventType     string    `json:"event_type"`
	ActorID       string    `json:"actor_id"`
	Role          string    `json:"role"`
	Organisation  string    `json:"organisation"`
	WorkflowID    string    `json:"workflow_id"`
	CorrelationID string    `json:"correlation_id"`
	RecordedAt    time.Time `json:"recorded_at"`
}

type timeline struct{}

// NewTimeline returns the timeline projection: one row per event of every stream,
// with the actor and context from the event's metadata (absent fields are empty
// strings, so the API never meets a NULL).
func NewTimeline() Projection { return timeline{} }

func (timeline) Name() string { return "timeline" }

func (timeline) SchemaVersion() int { return 1 }

func (timeline) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS timeline (
		stream_id      text        NOT NULL,
		stream_version bigint      NOT NULL,
		event_id       uuid        NOT NULL,
		event_type     text        NOT NULL,
		actor_id       text        NOT NULL,
		role           text        NOT NULL,
		organisation   text        NOT NULL,
		workflow_id    text        NOT NULL,
		correlation_id text        NOT NULL,
		recorded_at    timestamptz NOT NULL,
		CONSTRAINT timeline_pkey PRIMARY KEY (stream_id, stream_version)
	)`)
	return err
}

// Reset truncates rather than deletes: it is fast and the rebuild's readers keep
// waiting on the lock instead of seeing a half-built timeline.
func (timeline) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE timeline`)
	return err
}

// Apply inserts without ON CONFLICT on purpose: the checkpoint alone guarantees
// one effect per event, and a duplicate that slipped past it must fail loudly.
func (timeline) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	_, err := tx.Exec(ctx, `INSERT INTO timeline (`+timelineColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		timelineRow(e)...)
	return err
}

// ApplyBatch copies the rows in; a timeline row depends on its event alone, so
// the result equals Apply in order.
func (timeline) ApplyBatch(ctx context.Context, tx pgx.Tx, evs []events.Event) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"timeline"}, timelineColumnList,
		pgx.CopyFromSlice(len(evs), func(i int) ([]any, error) { return timelineRow(evs[i]), nil }))
	return err
}

// BeforeReplay drops the primary key for the bulk load; AfterReplay builds it
// again, which also proves that no event was loaded twice.
func (timeline) BeforeReplay(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `ALTER TABLE timeline DROP CONSTRAINT timeline_pkey`)
	return err
}

func (timeline) AfterReplay(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `ALTER TABLE timeline ADD CONSTRAINT timeline_pkey PRIMARY KEY (stream_id, stream_version)`)
	return err
}

const timelineColumns = `stream_id, stream_version, event_id, event_type, actor_id, role, organisation,
	workflow_id, correlation_id, recorded_at`

var timelineColumnList = []string{"stream_id", "stream_version", "event_id", "event_type", "actor_id", "role",
	"organisation", "workflow_id", "correlation_id", "recorded_at"}

func timelineRow(e events.Event) []any {
	m := e.Metadata
	return []any{e.StreamID, e.StreamVersion, e.ID, e.Type, m.ActorID, m.Role, m.Organisation,
		m.WorkflowID, m.CorrelationID, e.RecordedAt}
}

// Digest hashes every row in primary-key order, comparing ids byte by byte
// (COLLATE "C") so the digest does not depend on the database's collation.
func (timeline) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	rows, err := tx.Query(ctx, `SELECT `+timelineColumns+` FROM timeline
		ORDER BY stream_id COLLATE "C", stream_version`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	h := sha256.New()
	var b []byte
	for rows.Next() {
		var t TimelineEntry
		if err := scanTimeline(rows, &t); err != nil {
			return "", err
		}
		b = b[:0]
		b = appendString(b, t.StreamID)
		b = binary.BigEndian.AppendUint64(b, uint64(t.StreamVersion))
		b = append(b, t.EventID[:]...)
		for _, s := range []string{t.EventType, t.ActorID, t.Role, t.Organisation, t.WorkflowID, t.CorrelationID} {
			b = appendString(b, s)
		}
		b = binary.BigEndian.AppendUint64(b, uint64(t.RecordedAt.UnixMicro()))
		h.Write(b)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// appendString length-prefixes s so that adjacent fields cannot run together.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func scanTimeline(rows pgx.Rows, t *TimelineEntry) error {
	if err := rows.Scan(&t.StreamID, &t.StreamVersion, &t.EventID, &t.EventType, &t.ActorID, &t.Role,
		&t.Organisation, &t.WorkflowID, &t.CorrelationID, &t.RecordedAt); err != nil {
		return err
	}
	t.RecordedAt = t.RecordedAt.UTC()
	return nil
}

// TimelineOf returns up to limit entries of a stream's timeline in version order
// (all of them if limit <= 0).
func TimelineOf(ctx context.Context, q Querier, streamID string, limit int) ([]TimelineEntry, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := q.Query(ctx, `SELECT `+timelineColumns+` FROM timeline WHERE stream_id = $1
		ORDER BY stream_version LIMIT $2`, streamID, lim)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", streamID, err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var t TimelineEntry
		if err := scanTimeline(rows, &t); err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", streamID, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", streamID, err)
	}
	return out, nil
}

package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"keytask/domain/identity"
	"keytask/domain/privacy"
	"keytask/events"
	"keytask/eventtypes"
)

// SubjectKind is what a stream history is about.
type SubjectKind string

// The subjects whose history an auditor reads.
const (
	SubjectApplication SubjectKind = "application"
	SubjectBatch       SubjectKind = "batch"
	SubjectProvince    SubjectKind = "province"
	SubjectProject     SubjectKind = "project"
)

// SubjectKinds lists every subject kind.
var SubjectKinds = []SubjectKind{SubjectApplication, SubjectBatch, SubjectProvince, SubjectProject}

// Zh names the subject kind for people.
func (k SubjectKind) Zh() string {
	return map[SubjectKind]string{SubjectApplication: "申报", SubjectBatch: "批次", SubjectProvince: "省份", SubjectProject: "项目"}[k]
}

// ErrSubject is wrapped by errors about an unknown subject kind or an empty id.
var ErrSubject = errors.New("invalid history subject")

// HistoryEntry is one event of a subject's history with everything an auditor
// asks about it: who (actor, role, organisation), in which workflow, caused by
// what (correlation, causation), and what it said.
type HistoryEntry struct {
	Position      int64           `json:"position"` // 0 while not yet sealed
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	EventID       uuid.UUID       `json:"event_id"`
	Type          string          `json:"type"`
	RecordedAt    time.Time       `json:"recorded_at"`
	ActorID       string          `json:"actor_id"`
	Role          string          `json:"role"`
	Organisation  string          `json:"organisation"`
	WorkflowID    string          `json:"workflow_id"`
	CorrelationID string          `json:"correlation_id"`
	CausationID   string          `json:"causation_id,omitempty"`
	Data          json.RawMessage `json:"data"`
	Redacted      bool            `json:"redacted,omitempty"` // personal data was withheld from this viewer
}

// historyWhere selects a subject's events. Each kind gathers its own streams
// and the events elsewhere that name it:
//   - an application: its stream, and the events of selection batches and
//     projects that mention its id anywhere in their data (qualification,
//     experts, scores, ranking, objections, publication);
//   - a batch: its stream, and every event whose data names it as batch_id
//     (applications to it, projects from it, plans);
//   - a province: the events its people caused (organisation), the events whose
//     data names it as province, and its liaison and intent-form streams;
//   - a project: its stream and every event whose data names it as project_id.
var historyWhere = map[SubjectKind]string{
	SubjectApplication: `e.stream_id = 'application-' || $1 OR ((e.stream_id LIKE 'selection-batch-%' OR e.stream_id LIKE 'project-%')
		AND jsonb_path_exists(e.data::jsonb, 'strict $.** ? (@ == $id)', jsonb_build_object('id', $1::text)))`,
	SubjectBatch:    `e.stream_id = 'selection-batch-' || $1 OR e.data::jsonb->>'batch_id' = $1`,
	SubjectProvince: `e.metadata::jsonb->>'organisation' = $1 OR e.data::jsonb->>'province' = $1 OR e.stream_id = 'liaison-' || $1 OR (e.stream_id LIKE 'intent-form-%' AND e.stream_id LIKE '%-' || $1)`,
	SubjectProject:  `e.stream_id = 'project-' || $1 OR e.data::jsonb->>'project_id' = $1`,
}

// ParseSubjectKind checks a subject kind.
func ParseSubjectKind(s string) (SubjectKind, error) {
	k := SubjectKind(s)
	if _, ok := historyWhere[k]; !ok {
		return "", fmt.Errorf("%w: kind %q is not one of %v", ErrSubject, s, SubjectKinds)
	}
	return k, nil
}

// History returns all of a subject's events in the log's commit order (the
// order the read models applied them).
// Personal data is shown as package privacy lets viewer read it.
func History(ctx context.Context, q Querier, kind SubjectKind, id string, viewer identity.Principal) ([]HistoryEntry, error) {
	where, ok := historyWhere[kind]
	if !ok {
		return nil, fmt.Errorf("%w: kind %q is not one of %v", ErrSubject, kind, SubjectKinds)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: empty id", ErrSubject)
	}
	rows, err := q.Query(ctx, `SELECT coalesce(c.position, 0), e.stream_id, e.stream_version, e.id, e.type, e.schema_version, e.recorded_at,
		e.metadata::text, e.data::text, e.tx_id::text, e.seq
		FROM events e LEFT JOIN event_chain c ON c.event_id = e.id
		WHERE `+where+` ORDER BY e.tx_id, e.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("history of %s %s: %w", kind, id, err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var meta, data, tx string
		var seq int64
		var version int
		if err := rows.Scan(&h.Position, &h.StreamID, &h.StreamVersion, &h.EventID, &h.Type, &version, &h.RecordedAt, &meta, &data, &tx, &seq); err != nil {
			return nil, fmt.Errorf("history of %s %s: %w", kind, id, err)
		}
		var m events.Metadata
		if err := json.Unmarshal([]byte(meta), &m); err != nil {
			return nil, fmt.Errorf("history of %s %s: metadata of %s: %w", kind, id, h.EventID, err)
		}
		h.ActorID, h.Role, h.Organisation = m.ActorID, m.Role, m.Organisation
		h.WorkflowID, h.CorrelationID, h.CausationID = m.WorkflowID, m.CorrelationID, m.CausationID
		// Every event is shown in its type's current shape, as the read models
		// read it, whatever version wrote it.
		current, err := eventtypes.Registry.Current(events.Event{ID: h.EventID, Type: h.Type, SchemaVersion: version, Data: json.RawMessage(data)})
		if err != nil {
			return nil, fmt.Errorf("history of %s %s: %w", kind, id, err)
		}
		if h.Data, h.Redacted, err = privacy.Event(viewer, h.Type, current.Data); err != nil {
			return nil, fmt.Errorf("history of %s %s: %s: %w", kind, id, h.EventID, err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// positionText shows a position, or that the event awaits sealing.
func positionText(p int64) string {
	if p == 0 {
		return "待封存"
	}
	return strconv.FormatInt(p, 10)
}

// PositionText shows an entry's log position for people.
func (h HistoryEntry) PositionText() string { return positionText(h.Position) }

// Package events is keytask's event log: the only source of truth. Events are
// appended to streams in Postgres with optimistic concurrency, are idempotent by
// deterministic id, are published to Watermill in the same transaction, and are
// sealed into a SHA-256 hash chain that gives every event a dense global position.
package events

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Metadata says who caused an event and in which context. Every event records its actor.
type Metadata struct {
	ActorID       string `json:"actor_id,omitempty"`
	Role          string `json:"role,omitempty"`
	Organisation  string `json:"organisation,omitempty"` // province code or school id
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	WorkflowID    string `json:"workflow_id,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
}

// NewEvent is an event to append. ID must be deterministic (see DeriveID) so that a
// retried command appends nothing twice.
type NewEvent struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// Event is a recorded event. Position is the dense global position assigned when the
// event is sealed into the hash chain; it is 0 until then.
type Event struct {
	ID            uuid.UUID       `json:"id"`
	StreamID      string          `json:"stream_id"`
	StreamVersion int64           `json:"stream_version"`
	Position      int64           `json:"position"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      Metadata        `json:"metadata"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Order         Order           `json:"order"`
}

// Order is an event's place in commit-safe order: its transaction id, then its
// insertion sequence. Projections checkpoint on it, so a redelivered event, whose
// order is not after the checkpoint, has no second effect.
type Order struct {
	TxID uint64 `json:"tx_id"`
	Seq  int64  `json:"seq"`
}

// After reports whether o comes after p.
func (o Order) After(p Order) bool {
	return o.TxID > p.TxID || (o.TxID == p.TxID && o.Seq > p.Seq)
}

// Recorded tells where an appended event landed in its stream.
type Recorded struct {
	ID            uuid.UUID
	StreamVersion int64
}

// namespace scopes keytask's deterministic event ids.
var namespace = uuid.MustParse("6f1c1d0e-5b7a-4d43-9a53-6b2f3c1e9a10")

// DeriveID returns the deterministic id of an event from parts that identify the
// step that caused it, such as a workflow id and a step name, or a client's
// idempotency key. The same parts always give the same id.
func DeriveID(parts ...string) uuid.UUID {
	b := make([]byte, 0, 64)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0) // separator so ("ab","c") and ("a","bc") differ
	}
	return uuid.NewSHA1(namespace, b)
}

package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/assign"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// SelectionExperts is the read model of the expert pool (专家库).
type SelectionExperts struct{}

// Name implements Projection.
func (SelectionExperts) Name() string { return "selection_experts" }

// SchemaVersion implements Projection.
func (SelectionExperts) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (SelectionExperts) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS selection_experts (
	expert_id     text        PRIMARY KEY,
	record        jsonb       NOT NULL,
	registered_at timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL,
	updated_by    text        NOT NULL,
	version       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS selection_experts_expertise_idx ON selection_experts USING gin ((record -> 'expertise'));`)
	return err
}

// Reset implements Projection.
func (SelectionExperts) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE selection_experts`)
	return err
}

// Apply implements Projection. A registration and an update both replace the
// whole record.
func (SelectionExperts) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if e.Type != selection.TypeExpertRegistered && e.Type != selection.TypeExpertUpdated {
		return nil
	}
	payload, err := eventtypes.Registry.Decode(e)
	if err != nil {
		return err
	}
	rec, _ := selection.ExpertRecord(payload)
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO selection_experts (expert_id, record, registered_at, updated_at, updated_by, version)
		VALUES ($1, $2, $3, $3, $4, 1)
		ON CONFLICT (expert_id) DO UPDATE SET record = excluded.record, updated_at = excluded.updated_at,
			updated_by = excluded.updated_by, version = selection_experts.version + 1`,
		rec.ExpertID, string(b), e.RecordedAt, e.Metadata.ActorID)
	if err != nil {
		return fmt.Errorf("selection_experts: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Digest implements Projection.
func (SelectionExperts) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(expert_id, record, registered_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC', updated_by, version)::text
			FROM selection_experts ORDER BY expert_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("selection_experts digest: %w", err)
	}
	return d, nil
}

// ExpertRecord is an expert of the pool.
type ExpertRecord struct {
	selection.ExpertRegistered
	RegisteredAt time.Time `json:"registered_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	Version      int64     `json:"version"`
}

// ListExperts returns the pool by expert id; with taskType set, only the experts
// of level 1 or more in it.
func ListExperts(ctx context.Context, q Querier, taskType string) ([]ExpertRecord, error) {
	rows, err := q.Query(ctx, `SELECT record, registered_at, updated_at, version FROM selection_experts
		WHERE $1 = '' OR coalesce((record -> 'expertise' ->> $1)::int, 0) > 0
		ORDER BY expert_id COLLATE "C"`, taskType)
	if err != nil {
		return nil, fmt.Errorf("list experts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ExpertRecord, error) {
		var r ExpertRecord
		var rec []byte
		if err := row.Scan(&rec, &r.RegisteredAt, &r.UpdatedAt, &r.Version); err != nil {
			return r, err
		}
		r.RegisteredAt, r.UpdatedAt = r.RegisteredAt.UTC(), r.UpdatedAt.UTC()
		return r, json.Unmarshal(rec, &r.ExpertRegistered)
	})
	if err != nil {
		return nil, fmt.Errorf("list experts: %w", err)
	}
	return out, nil
}

// ExpertPool returns the experts qualified (level 1 or more) in taskType as the
// assignment solver takes them, by id.
func ExpertPool(ctx context.Context, q Querier, taskType string) ([]assign.Expert, error) {
	rs, err := ListExperts(ctx, q, taskType)
	if err != nil {
		return nil, err
	}
	out := make([]assign.Expert, len(rs))
	for i, r := range rs {
		out[i] = r.AssignExpert()
	}
	return out, nil
}

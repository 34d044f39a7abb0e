package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/intent"
	"keytask/events"
)

// IntentPlan is the read model of the plan catalogue: each batch with its task
// items in the order the ministry listed them.
type IntentPlan struct{}

// Name implements Projection.
func (IntentPlan) Name() string { return "intent_plan" }

// SchemaVersion implements Projection.
func (IntentPlan) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (IntentPlan) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS plan_batches (
	batch_id  text        PRIMARY KEY,
	name      text        NOT NULL,
	opened_at timestamptz NOT NULL,
	opened_by text        NOT NULL
);
CREATE TABLE IF NOT EXISTS plan_items (
	batch_id text        NOT NULL,
	position int         NOT NULL,
	item     text        NOT NULL,
	code     text        NOT NULL,
	name     text        NOT NULL,
	target   bigint      NOT NULL,
	unit     text        NOT NULL,
	kind     text        NOT NULL,
	added_at timestamptz NOT NULL,
	PRIMARY KEY (batch_id, position),
	UNIQUE (batch_id, item),
	UNIQUE (batch_id, code)
);`)
	return err
}

// Reset implements Projection.
func (IntentPlan) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE plan_batches, plan_items`)
	return err
}

// Apply implements Projection. Plain inserts: the domain keeps numbering and
// codes unique, so a violation is a bug that must surface.
func (IntentPlan) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	var err error
	switch e.Type {
	case intent.TypePlanBatchOpened:
		var p intent.PlanBatchOpened
		if p, err = decodePayload[intent.PlanBatchOpened](e); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, `INSERT INTO plan_batches (batch_id, name, opened_at, opened_by) VALUES ($1, $2, $3, $4)`,
			p.BatchID, p.Name, e.RecordedAt, e.Metadata.ActorID); err == nil {
			err = insertPlanItems(ctx, tx, p.BatchID, p.Items, e.RecordedAt)
		}
	case intent.TypePlanItemsAdded:
		var p intent.PlanItemsAdded
		if p, err = decodePayload[intent.PlanItemsAdded](e); err != nil {
			return err
		}
		err = insertPlanItems(ctx, tx, p.BatchID, p.Items, e.RecordedAt)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("intent_plan: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// insertPlanItems appends items after the batch's last position.
func insertPlanItems(ctx context.Context, tx pgx.Tx, batchID string, items []intent.TaskItem, at time.Time) error {
	var next int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(position) + 1, 0) FROM plan_items WHERE batch_id = $1`, batchID).Scan(&next); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for i, it := range items {
		b.Queue(`INSERT INTO plan_items (batch_id, position, item, code, name, target, unit, kind, added_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, batchID, next+i, it.Item, it.Code, it.Name, it.Target, it.Unit, string(it.Kind), at)
	}
	return tx.SendBatch(ctx, b).Close()
}

// Digest implements Projection.
func (IntentPlan) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(batch_id, name, opened_at AT TIME ZONE 'UTC', opened_by)::text
			FROM plan_batches ORDER BY batch_id COLLATE "C"`,
		`SELECT jsonb_build_array(batch_id, position, item, code, name, target, unit, kind, added_at AT TIME ZONE 'UTC')::text
			FROM plan_items ORDER BY batch_id COLLATE "C", position`)
	if err != nil {
		return "", fmt.Errorf("intent_plan digest: %w", err)
	}
	return d, nil
}

// PlanBatch is a batch of the plan with its catalogue.
type PlanBatch struct {
	BatchID  string
	Name     string
	OpenedAt time.Time
	OpenedBy string
	Items    []intent.TaskItem // in the ministry's order
}

// GetPlanBatch returns one batch. Errors: ErrPlanBatchNotFound.
func GetPlanBatch(ctx context.Context, q Querier, batchID string) (PlanBatch, error) {
	rows, err := q.Query(ctx, `SELECT batch_id, name, opened_at, opened_by FROM plan_batches WHERE batch_id = $1`, batchID)
	if err != nil {
		return PlanBatch{}, fmt.Errorf("get plan batch %s: %w", batchID, err)
	}
	b, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (PlanBatch, error) {
		var b PlanBatch
		err := row.Scan(&b.BatchID, &b.Name, &b.OpenedAt, &b.OpenedBy)
		b.OpenedAt = b.OpenedAt.UTC()
		return b, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("get plan batch %s: %w", batchID, ErrPlanBatchNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("get plan batch %s: %w", batchID, err)
	}
	if b.Items, err = PlanItems(ctx, q, batchID); err != nil {
		return b, err
	}
	return b, nil
}

// PlanItems returns a batch's items in order (none for an unknown batch).
func PlanItems(ctx context.Context, q Querier, batchID string) ([]intent.TaskItem, error) {
	rows, err := q.Query(ctx, `SELECT item, code, name, target, unit, kind FROM plan_items WHERE batch_id = $1 ORDER BY position`, batchID)
	if err != nil {
		return nil, fmt.Errorf("plan items of %s: %w", batchID, err)
	}
	items, err := pgx.CollectRows(rows, scanTaskItem)
	if err != nil {
		return nil, fmt.Errorf("plan items of %s: %w", batchID, err)
	}
	return items, nil
}

func scanTaskItem(row pgx.CollectableRow) (intent.TaskItem, error) {
	var it intent.TaskItem
	var kind string
	err := row.Scan(&it.Item, &it.Code, &it.Name, &it.Target, &it.Unit, &kind)
	it.Kind = intent.Kind(kind)
	return it, err
}

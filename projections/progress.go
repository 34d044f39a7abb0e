package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

// Progress is the read model of the whole programme against its national
// targets (进展): per plan batch and task item, and per province, what the
// provinces undertook and pledged, what schools applied for, what provinces
// recommended, what batch after batch published, how the projects stand, and
// the money planned and spent in the yearly reports. It keeps its own copy of
// every fact it counts, so that it can be replayed alone as of any instant
// and never joins a read model that may trail it.
type Progress struct{}

// Name implements Projection.
func (Progress) Name() string { return "progress" }

// SchemaVersion implements Projection.
func (Progress) SchemaVersion() int { return 1 }

// Setup implements Projection. Money is integer yuan per source (intent.Funds
// as JSON), summed in SQL as bigint.
func (Progress) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS progress_items (
	plan_batch_id text   NOT NULL,
	item          text   NOT NULL,
	seq           int    NOT NULL, -- the catalogue's order
	code          text   NOT NULL,
	name          text   NOT NULL,
	target        bigint NOT NULL,
	unit          text   NOT NULL,
	kind          text   NOT NULL,
	PRIMARY KEY (plan_batch_id, item)
);
CREATE TABLE IF NOT EXISTS progress_plan_batches (
	plan_batch_id text        PRIMARY KEY,
	name          text        NOT NULL,
	opened_at     timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS progress_rounds (
	round_id      text        PRIMARY KEY,
	plan_batch_id text        NOT NULL,
	deadline      timestamptz NOT NULL,
	provinces     int         NOT NULL,
	filed         boolean     NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS progress_intents (
	plan_batch_id text    NOT NULL,
	province      text    NOT NULL,
	item          text    NOT NULL,
	round_id      text    NOT NULL,
	undertake     boolean NOT NULL,
	quantity      bigint  NOT NULL,
	funds         jsonb   NOT NULL,
	PRIMARY KEY (plan_batch_id, province, item)
);
CREATE TABLE IF NOT EXISTS progress_batches (
	batch_id      text        PRIMARY KEY,
	plan_batch_id text        NOT NULL,
	task_item     text        NOT NULL,
	stage         text        NOT NULL,
	deadline      timestamptz,
	overdue       boolean     NOT NULL DEFAULT false,
	opened_at     timestamptz NOT NULL,
	published_at  timestamptz
);
CREATE TABLE IF NOT EXISTS progress_applications (
	application_id text    PRIMARY KEY,
	batch_id       text    NOT NULL,
	task_item      text    NOT NULL,
	province       text    NOT NULL,
	submitted      boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS progress_recommended (
	batch_id       text NOT NULL,
	application_id text NOT NULL,
	province       text NOT NULL,
	PRIMARY KEY (batch_id, application_id)
);
CREATE TABLE IF NOT EXISTS progress_projects (
	project_id  text        PRIMARY KEY,
	batch_id    text        NOT NULL,
	task_item   text        NOT NULL,
	province    text        NOT NULL,
	status      text        NOT NULL,
	rectify_by  timestamptz,
	created_at  timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS progress_collections (
	year     int         PRIMARY KEY,
	deadline timestamptz NOT NULL,
	closed   boolean     NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS progress_reports (
	year       int    NOT NULL,
	project_id text   NOT NULL,
	batch_id   text   NOT NULL,
	task_item  text   NOT NULL,
	province   text   NOT NULL,
	status     text   NOT NULL,
	planned    jsonb, -- of the latest submission, whether or not it stands
	spent      jsonb,
	PRIMARY KEY (year, project_id)
);`)
	return err
}

var progressTables = []string{"progress_items", "progress_plan_batches", "progress_rounds", "progress_intents", "progress_batches",
	"progress_applications", "progress_recommended", "progress_projects", "progress_collections", "progress_reports"}

// Reset implements Projection.
func (Progress) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(progressTables, ", "))
	return err
}

// Apply implements Projection.
func (p Progress) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if err := p.apply(ctx, tx, e); err != nil {
		return fmt.Errorf("%s: apply %s %s: %w", p.Name(), e.Type, e.ID, err)
	}
	return nil
}

func (Progress) apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	exec := func(sql string, args ...any) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
	addItems := func(batch string, items []intent.TaskItem) error {
		for _, it := range items {
			if err := exec(`INSERT INTO progress_items (plan_batch_id, item, seq, code, name, target, unit, kind)
				VALUES ($1, $2, (SELECT count(*) FROM progress_items WHERE plan_batch_id = $1), $3, $4, $5, $6, $7)
				ON CONFLICT DO NOTHING`, batch, it.Item, it.Code, it.Name, it.Target, it.Unit, string(it.Kind)); err != nil {
				return err
			}
		}
		return nil
	}
	batchOfStream := func() (string, bool) {
		id, ok := strings.CutPrefix(e.StreamID, selectionBatchStreamPrefix)
		return id, ok && selection.SelectionBatchStream(id) == e.StreamID
	}
	switch e.Type {
	case intent.TypePlanBatchOpened:
		return applyPayload(e, func(v intent.PlanBatchOpened) error {
			if err := exec(`INSERT INTO progress_plan_batches (plan_batch_id, name, opened_at) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, v.BatchID, v.Name, e.RecordedAt); err != nil {
				return err
			}
			return addItems(v.BatchID, v.Items)
		})
	case intent.TypePlanItemsAdded:
		return applyPayload(e, func(v intent.PlanItemsAdded) error { return addItems(v.BatchID, v.Items) })
	case intent.TypeIntentRoundOpened:
		return applyPayload(e, func(v intent.IntentRoundOpened) error {
			return exec(`INSERT INTO progress_rounds (round_id, plan_batch_id, deadline, provinces) VALUES ($1, $2, $3, $4)`,
				v.RoundID, v.BatchID, v.Deadline, len(v.Provinces))
		})
	case intent.TypeIntentRoundFiled:
		return applyPayload(e, func(v intent.IntentRoundFiled) error {
			return exec(`UPDATE progress_rounds SET filed = true WHERE round_id = $1`, v.RoundID)
		})
	case intent.TypeIntentSubmitted:
		// A province's latest submission in any round of a plan batch is what
		// it intends for that batch; a later round's form replaces it whole.
		return applyPayload(e, func(v intent.IntentSubmitted) error {
			if err := exec(`DELETE FROM progress_intents WHERE province = $2
				AND plan_batch_id = (SELECT plan_batch_id FROM progress_rounds WHERE round_id = $1)`, v.RoundID, v.Province); err != nil {
				return err
			}
			for _, l := range v.Form.Lines {
				funds, err := json.Marshal(l.Funds)
				if err != nil {
					return err
				}
				if err := exec(`INSERT INTO progress_intents (plan_batch_id, province, item, round_id, undertake, quantity, funds)
					SELECT plan_batch_id, $2, $3, $1, $4, $5, $6 FROM progress_rounds WHERE round_id = $1
					ON CONFLICT (plan_batch_id, province, item) DO UPDATE SET round_id = excluded.round_id,
						undertake = excluded.undertake, quantity = excluded.quantity, funds = excluded.funds`,
					v.RoundID, v.Province, l.Item, l.Undertake, l.Quantity, funds); err != nil {
					return err
				}
			}
			return nil
		})
	case intent.TypeIntentReturned:
		// A returned form no longer stands until it is submitted again.
		return applyPayload(e, func(v intent.IntentReturned) error {
			return exec(`DELETE FROM progress_intents WHERE round_id = $1 AND province = $2`, v.RoundID, v.Province)
		})
	case selection.TypeApplicationCreated:
		return applyPayload(e, func(v selection.ApplicationCreated) error {
			return exec(`INSERT INTO progress_applications (application_id, batch_id, task_item, province) VALUES ($1, $2, $3, $4)
				ON CONFLICT DO NOTHING`, v.ApplicationID, v.BatchID, v.TaskItem, v.Province)
		})
	case selection.TypeApplicationSubmitted:
		return applyPayload(e, func(v selection.ApplicationSubmitted) error {
			return exec(`UPDATE progress_applications SET submitted = true WHERE application_id = $1`, v.ApplicationID)
		})
	case selection.TypeProjectCreated:
		return applyPayload(e, func(v selection.ProjectCreated) error {
			return exec(`INSERT INTO progress_projects (project_id, batch_id, task_item, province, status, created_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				v.ProjectID, v.BatchID, v.TaskItem, v.Province, string(tracking.StatusActive), e.RecordedAt)
		})
	case performance.TypeCollectionOpened:
		return applyPayload(e, func(v performance.CollectionOpened) error {
			return exec(`INSERT INTO progress_collections (year, deadline) VALUES ($1, $2) ON CONFLICT DO NOTHING`, v.Year, v.Deadline)
		})
	case performance.TypeCollectionDeadlineExtended:
		return applyPayload(e, func(v performance.CollectionDeadlineExtended) error {
			return exec(`UPDATE progress_collections SET deadline = $2 WHERE year = $1`, v.Year, v.To)
		})
	case performance.TypeCollectionClosed:
		return applyPayload(e, func(v performance.CollectionClosed) error {
			return exec(`UPDATE progress_collections SET closed = true WHERE year = $1`, v.Year)
		})
	case performance.TypeReportOpened:
		return applyPayload(e, func(v performance.ReportOpened) error {
			return exec(`INSERT INTO progress_reports (year, project_id, batch_id, task_item, province, status)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				v.Year, v.ProjectID, v.BatchID, v.TaskItem, v.Province, string(performance.StatusOpen))
		})
	case performance.TypeReportDraftSaved:
		return applyPayload(e, func(v performance.ReportDraftSaved) error {
			return exec(`UPDATE progress_reports SET status = $3 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusDraft))
		})
	case performance.TypeReportSubmitted:
		return applyPayload(e, func(v performance.ReportSubmitted) error {
			planned, err := json.Marshal(v.Report.Planned)
			if err != nil {
				return err
			}
			spent, err := json.Marshal(v.Report.Spent)
			if err != nil {
				return err
			}
			return exec(`UPDATE progress_reports SET status = $3, planned = $4, spent = $5 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusSubmitted), planned, spent)
		})
	case performance.TypeReportReturned:
		return applyPayload(e, func(v performance.ReportReturned) error {
			return exec(`UPDATE progress_reports SET status = $3 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusReturned))
		})
	case performance.TypeReportLocked:
		return applyPayload(e, func(v performance.ReportLocked) error {
			return exec(`UPDATE progress_reports SET status = $3 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusLocked))
		})
	}
	if batchID, ok := batchOfStream(); ok {
		return applyProgressBatch(ctx, exec, e, batchID)
	}
	payload, ok, err := events.DecodeIf[tracking.Event](eventtypes.Registry, e)
	if err != nil || !ok {
		return err
	}
	switch v := payload.(type) {
	case tracking.ProjectFlagged:
		return exec(`UPDATE progress_projects SET status = $2, rectify_by = $3 WHERE project_id = $1`,
			v.ProjectID, string(tracking.StatusFlagged), v.RectifyBy)
	case tracking.RectificationConfirmed:
		return exec(`UPDATE progress_projects SET status = $2, rectify_by = NULL WHERE project_id = $1`, v.ProjectID, string(tracking.StatusActive))
	case tracking.ProjectRevoked:
		return exec(`UPDATE progress_projects SET status = $2, rectify_by = NULL WHERE project_id = $1`, v.ProjectID, string(tracking.StatusRevoked))
	case tracking.ProjectAccepted:
		return exec(`UPDATE progress_projects SET status = $2, rectify_by = NULL WHERE project_id = $1`, v.ProjectID, string(tracking.StatusAccepted))
	}
	return nil
}

// applyProgressBatch follows a selection batch's stage, deadline and
// recommendations.
func applyProgressBatch(_ context.Context, exec func(string, ...any) error, e events.Event, batchID string) error {
	deadline := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	switch e.Type {
	case selection.TypeSelectionBatchOpened:
		return applyPayload(e, func(v selection.SelectionBatchOpened) error {
			return exec(`INSERT INTO progress_batches (batch_id, plan_batch_id, task_item, stage, deadline, opened_at)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
				batchID, v.PlanBatchID, v.TaskItem, string(selection.StageRecommendation), deadline(v.Deadline), e.RecordedAt)
		})
	case selection.TypeApplicationsRecommended:
		return applyPayload(e, func(v selection.ApplicationsRecommended) error {
			if err := exec(`DELETE FROM progress_recommended WHERE batch_id = $1 AND province = $2`, batchID, v.Province); err != nil {
				return err
			}
			return exec(`INSERT INTO progress_recommended (batch_id, application_id, province)
				SELECT $1, a, $2 FROM unnest($3::text[]) a ON CONFLICT DO NOTHING`, batchID, v.Province, v.Applications)
		})
	case selection.TypeStageAdvanced:
		return applyPayload(e, func(v selection.StageAdvanced) error {
			return exec(`UPDATE progress_batches SET stage = $2, deadline = $3, overdue = false WHERE batch_id = $1`,
				batchID, string(v.To), deadline(v.Deadline))
		})
	case selection.TypeStageReopened:
		return applyPayload(e, func(v selection.StageReopened) error {
			return exec(`UPDATE progress_batches SET stage = $2, deadline = $3, overdue = false WHERE batch_id = $1`,
				batchID, string(v.To), deadline(v.Deadline))
		})
	case selection.TypeStageDeadlineExtended:
		return applyPayload(e, func(v selection.StageDeadlineExtended) error {
			return exec(`UPDATE progress_batches SET deadline = $2, overdue = false WHERE batch_id = $1`, batchID, deadline(v.Deadline))
		})
	case selection.TypeStageDeadlinePassed:
		return exec(`UPDATE progress_batches SET overdue = true WHERE batch_id = $1`, batchID)
	case selection.TypeSelectionBatchPublished:
		return exec(`UPDATE progress_batches SET stage = $2, overdue = false, deadline = NULL, published_at = $3 WHERE batch_id = $1`,
			batchID, string(selection.StagePublished), e.RecordedAt)
	}
	return nil
}

// Digest implements Projection.
func (Progress) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(plan_batch_id, item, seq, code, name, target, unit, kind)::text FROM progress_items
			ORDER BY plan_batch_id COLLATE "C", item COLLATE "C"`,
		`SELECT jsonb_build_array(plan_batch_id, name, opened_at AT TIME ZONE 'UTC')::text FROM progress_plan_batches ORDER BY plan_batch_id COLLATE "C"`,
		`SELECT jsonb_build_array(round_id, plan_batch_id, deadline AT TIME ZONE 'UTC', provinces, filed)::text FROM progress_rounds
			ORDER BY round_id COLLATE "C"`,
		`SELECT jsonb_build_array(plan_batch_id, province, item, round_id, undertake, quantity, funds)::text FROM progress_intents
			ORDER BY plan_batch_id COLLATE "C", province COLLATE "C", item COLLATE "C"`,
		`SELECT jsonb_build_array(batch_id, plan_batch_id, task_item, stage, deadline AT TIME ZONE 'UTC', overdue,
				opened_at AT TIME ZONE 'UTC', published_at AT TIME ZONE 'UTC')::text FROM progress_batches ORDER BY batch_id COLLATE "C"`,
		`SELECT jsonb_build_array(application_id, batch_id, task_item, province, submitted)::text FROM progress_applications
			ORDER BY application_id COLLATE "C"`,
		`SELECT jsonb_build_array(batch_id, application_id, province)::text FROM progress_recommended
			ORDER BY batch_id COLLATE "C", application_id COLLATE "C"`,
		`SELECT jsonb_build_array(project_id, batch_id, task_item, province, status, rectify_by AT TIME ZONE 'UTC',
				created_at AT TIME ZONE 'UTC')::text FROM progress_projects ORDER BY project_id COLLATE "C"`,
		`SELECT jsonb_build_array(year, deadline AT TIME ZONE 'UTC', closed)::text FROM progress_collections ORDER BY year`,
		`SELECT jsonb_build_array(year, project_id, batch_id, task_item, province, status, planned, spent)::text FROM progress_reports
			ORDER BY year, project_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("progress digest: %w", err)
	}
	return d, nil
}

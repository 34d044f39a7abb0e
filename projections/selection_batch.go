package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/selection"
	"keytask/events"
)

// SelectionBatches is the read model of selection batches (遴选批次): each
// batch's stage and deadlines, the recommended applications with their
// qualification outcome, the ranking, the public notice, the objections and
// the published list. Objectors' names and contacts are stored for the
// ministry; the queries that serve the public never select them.
type SelectionBatches struct{}

// Name implements Projection.
func (SelectionBatches) Name() string { return "selection_batches" }

// SchemaVersion implements Projection.
func (SelectionBatches) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (SelectionBatches) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS selection_batches (
	batch_id        text        PRIMARY KEY,
	plan_batch_id   text        NOT NULL,
	task_item       text        NOT NULL,
	task_type       text        NOT NULL,
	quota           int         NOT NULL,
	province_quotas jsonb       NOT NULL,
	per_application int         NOT NULL,
	notice_days     int         NOT NULL,
	stage           text        NOT NULL,
	deadline        timestamptz NOT NULL,
	overdue         boolean     NOT NULL DEFAULT false,
	notice_start    timestamptz,
	notice_end      timestamptz,
	notice_list     jsonb,       -- the applications on notice, in ranking order
	assign_round    int         NOT NULL DEFAULT 0,
	proposed_round  int         NOT NULL DEFAULT 0,
	proposed        jsonb,       -- the current proposal, in ranking order
	confirmed       jsonb,       -- the confirmed list, in ranking order
	published       jsonb,       -- the published list, in ranking order
	published_at    timestamptz,
	opened_at       timestamptz NOT NULL,
	opened_by       text        NOT NULL,
	updated_at      timestamptz NOT NULL,
	version         bigint      NOT NULL -- the batch stream's version
);
CREATE TABLE IF NOT EXISTS selection_batch_applications (
	batch_id       text        NOT NULL,
	application_id text        NOT NULL,
	province       text        NOT NULL,
	rank           int         NOT NULL, -- in the province's recommendation
	outcome        text        NOT NULL DEFAULT '',
	reason         text        NOT NULL DEFAULT '',
	until          timestamptz,
	resubmitted    boolean     NOT NULL DEFAULT false,
	experts        jsonb       NOT NULL DEFAULT '[]',
	removed        boolean     NOT NULL DEFAULT false, -- an objection against it was upheld
	PRIMARY KEY (batch_id, application_id)
);
CREATE TABLE IF NOT EXISTS selection_batch_objections (
	batch_id       text        NOT NULL,
	objection_id   text        NOT NULL,
	application_id text        NOT NULL,
	name           text        NOT NULL, -- ministry staff only
	contact        text        NOT NULL, -- ministry staff only
	text           text        NOT NULL,
	filed_at       timestamptz NOT NULL,
	outcome        text        NOT NULL DEFAULT '',
	reason         text        NOT NULL DEFAULT '',
	adjudicated_at timestamptz,
	adjudicated_by text        NOT NULL DEFAULT '',
	PRIMARY KEY (batch_id, objection_id)
);`)
	return err
}

// Reset implements Projection.
func (SelectionBatches) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE selection_batches, selection_batch_applications, selection_batch_objections`)
	return err
}

const selectionBatchStreamPrefix = "selection-batch-"

// Apply implements Projection. The batch id comes from the stream, which the
// batch's workflow alone writes.
func (p SelectionBatches) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	batchID, ok := strings.CutPrefix(e.StreamID, selectionBatchStreamPrefix)
	if !ok || selection.SelectionBatchStream(batchID) != e.StreamID {
		return nil
	}
	err := p.apply(ctx, tx, e, batchID)
	if err != nil {
		return fmt.Errorf("%s: apply %s %s: %w", p.Name(), e.Type, e.ID, err)
	}
	return nil
}

func jsonList(l []string) ([]byte, error) {
	if l == nil {
		return nil, nil
	}
	return json.Marshal(l)
}

func (SelectionBatches) apply(ctx context.Context, tx pgx.Tx, e events.Event, batchID string) error {
	exec := func(sql string, args ...any) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
	touch := func() error {
		return exec(`UPDATE selection_batches SET updated_at = $2, version = $3 WHERE batch_id = $1`, batchID, e.RecordedAt, e.StreamVersion)
	}
	var err error
	switch e.Type {
	case selection.TypeSelectionBatchOpened:
		err = applyPayload(e, func(v selection.SelectionBatchOpened) error {
			quotas, err := json.Marshal(v.ProvinceQuotas)
			if err != nil {
				return err
			}
			return exec(`INSERT INTO selection_batches (batch_id, plan_batch_id, task_item, task_type, quota, province_quotas,
					per_application, notice_days, stage, deadline, opened_at, opened_by, updated_at, version)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $11, $13)`,
				batchID, v.PlanBatchID, v.TaskItem, v.TaskType, v.Quota, quotas, v.PerApplication, v.NoticeDays,
				string(selection.StageRecommendation), v.Deadline, e.RecordedAt, e.Metadata.ActorID, e.StreamVersion)
		})
		return err
	case selection.TypeProvinceQuotaRaised:
		err = applyPayload(e, func(v selection.ProvinceQuotaRaised) error {
			return exec(`UPDATE selection_batches SET province_quotas = province_quotas || jsonb_build_object($2::text, $3::int)
				WHERE batch_id = $1`, batchID, v.Province, v.Quota)
		})
	case selection.TypeApplicationsRecommended:
		err = applyPayload(e, func(v selection.ApplicationsRecommended) error {
			b := &pgx.Batch{}
			b.Queue(`DELETE FROM selection_batch_applications WHERE batch_id = $1 AND province = $2`, batchID, v.Province)
			for i, id := range v.Applications {
				b.Queue(`INSERT INTO selection_batch_applications (batch_id, application_id, province, rank) VALUES ($1, $2, $3, $4)`,
					batchID, id, v.Province, i+1)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	case selection.TypeQualificationDecided:
		err = applyPayload(e, func(v selection.QualificationDecided) error {
			b := &pgx.Batch{}
			for _, d := range v.Decisions {
				var until *time.Time
				if !d.Until.IsZero() {
					until = &d.Until
				}
				b.Queue(`UPDATE selection_batch_applications SET outcome = $3, reason = $4, until = $5
					WHERE batch_id = $1 AND application_id = $2`, batchID, d.Application, string(d.Outcome), d.Reason, until)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	case selection.TypeCorrectionResubmitted:
		err = applyPayload(e, func(v selection.CorrectionResubmitted) error {
			return exec(`UPDATE selection_batch_applications SET outcome = '', until = NULL, resubmitted = true
				WHERE batch_id = $1 AND application_id = $2`, batchID, v.Application)
		})
	case selection.TypeStageAdvanced:
		err = applyPayload(e, func(v selection.StageAdvanced) error {
			if v.Notice != nil {
				list, err := json.Marshal(v.Notice.List)
				if err != nil {
					return err
				}
				return exec(`UPDATE selection_batches SET stage = $2, deadline = $3, overdue = false,
						notice_start = $4, notice_end = $5, notice_days = $6, notice_list = $7 WHERE batch_id = $1`,
					batchID, string(v.To), v.Deadline, v.Notice.Start, v.Notice.End, v.Notice.WorkingDays, list)
			}
			return exec(`UPDATE selection_batches SET stage = $2, deadline = $3, overdue = false WHERE batch_id = $1`,
				batchID, string(v.To), v.Deadline)
		})
	case selection.TypeStageReopened:
		err = applyPayload(e, func(v selection.StageReopened) error {
			extra := ""
			switch v.From {
			case selection.StageExpertReview:
				extra = `, proposed = NULL, proposed_round = 0, confirmed = NULL`
			case selection.StageNotice:
				extra = `, notice_start = NULL, notice_end = NULL, notice_list = NULL, confirmed = NULL`
			}
			return exec(`UPDATE selection_batches SET stage = $2, deadline = $3, overdue = false`+extra+` WHERE batch_id = $1`,
				batchID, string(v.To), v.Deadline)
		})
	case selection.TypeStageDeadlineExtended:
		err = applyPayload(e, func(v selection.StageDeadlineExtended) error {
			return exec(`UPDATE selection_batches SET deadline = $2, overdue = false,
					notice_end = CASE WHEN stage = 'notice' AND notice_end IS NOT NULL THEN $2 ELSE notice_end END
				WHERE batch_id = $1`, batchID, v.Deadline)
		})
	case selection.TypeStageDeadlinePassed:
		err = exec(`UPDATE selection_batches SET overdue = true WHERE batch_id = $1`, batchID)
	case selection.TypeExpertsAssigned:
		err = applyPayload(e, func(v selection.ExpertsAssigned) error {
			b := &pgx.Batch{}
			b.Queue(`UPDATE selection_batches SET assign_round = greatest(assign_round, $2) WHERE batch_id = $1`, batchID, v.Round)
			for _, a := range v.Assignments {
				experts, err := json.Marshal(a.Experts)
				if err != nil {
					return err
				}
				b.Queue(`UPDATE selection_batch_applications SET experts = $3 WHERE batch_id = $1 AND application_id = $2`,
					batchID, a.Application, experts)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	case selection.TypeExpertsReplaced:
		// The replacement takes the leaving expert's place; the rest of the
		// panel stays in its order.
		err = applyPayload(e, func(v selection.ExpertsReplaced) error {
			b := &pgx.Batch{}
			b.Queue(`UPDATE selection_batches SET proposed = NULL, proposed_round = 0 WHERE batch_id = $1`, batchID)
			for _, r := range v.Replacements {
				b.Queue(`UPDATE selection_batch_applications SET experts = (
					SELECT coalesce(jsonb_agg(CASE WHEN x = to_jsonb($3::text) THEN to_jsonb($4::text) ELSE x END ORDER BY i), '[]')
					FROM jsonb_array_elements(experts) WITH ORDINALITY AS t(x, i))
					WHERE batch_id = $1 AND application_id = $2`, batchID, r.Application, r.Expert, r.Replacement)
			}
			return tx.SendBatch(ctx, b).Close()
		})
	case selection.TypeScoresSubmitted:
		// Scores change the proposal's validity, not what this model shows.
		err = exec(`UPDATE selection_batches SET proposed = NULL, proposed_round = 0 WHERE batch_id = $1`, batchID)
	case selection.TypeRankingProposed:
		err = applyPayload(e, func(v selection.RankingProposed) error {
			list, err := json.Marshal(nonNil(v.Selected))
			if err != nil {
				return err
			}
			return exec(`UPDATE selection_batches SET proposed_round = $2, proposed = $3 WHERE batch_id = $1`, batchID, v.Round, list)
		})
	case selection.TypeRankingOverruled:
		err = applyPayload(e, func(v selection.RankingOverruled) error {
			list, err := json.Marshal(nonNil(v.Selected))
			if err != nil {
				return err
			}
			return exec(`UPDATE selection_batches SET proposed = $2 WHERE batch_id = $1`, batchID, list)
		})
	case selection.TypeConsensusRecorded:
		// A consensus changes the proposal's validity, as scores do.
		err = exec(`UPDATE selection_batches SET proposed = NULL, proposed_round = 0 WHERE batch_id = $1`, batchID)
	case selection.TypeSuccessorNoticed:
		err = applyPayload(e, func(v selection.SuccessorNoticed) error {
			return exec(`UPDATE selection_batches SET notice_list = coalesce(notice_list, '[]'::jsonb) || jsonb_build_array($2::text),
					deadline = greatest(deadline, $3), overdue = overdue AND deadline >= $3 WHERE batch_id = $1`, batchID, v.Application, v.End)
		})
	case selection.TypeRankingConfirmed:
		err = applyPayload(e, func(v selection.RankingConfirmed) error {
			list, err := json.Marshal(nonNil(v.Selected))
			if err != nil {
				return err
			}
			return exec(`UPDATE selection_batches SET confirmed = $2 WHERE batch_id = $1`, batchID, list)
		})
	case selection.TypeObjectionFiled:
		err = applyPayload(e, func(v selection.ObjectionFiled) error {
			return exec(`INSERT INTO selection_batch_objections (batch_id, objection_id, application_id, name, contact, text, filed_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, batchID, v.ObjectionID, v.Application, v.Name, v.Contact, v.Text, e.RecordedAt)
		})
	case selection.TypeObjectionAdjudicated:
		err = applyPayload(e, func(v selection.ObjectionAdjudicated) error {
			if err := exec(`UPDATE selection_batch_objections SET outcome = $3, reason = $4, adjudicated_at = $5, adjudicated_by = $6
				WHERE batch_id = $1 AND objection_id = $2`, batchID, v.ObjectionID, string(v.Outcome), v.Reason, e.RecordedAt, e.Metadata.ActorID); err != nil {
				return err
			}
			return exec(`UPDATE selection_batch_applications SET removed = $3 WHERE batch_id = $1 AND application_id = $2`,
				batchID, v.Application, v.Outcome == selection.Upheld)
		})
	case selection.TypeSelectionBatchPublished:
		err = applyPayload(e, func(v selection.SelectionBatchPublished) error {
			list, err := json.Marshal(nonNil(v.List))
			if err != nil {
				return err
			}
			return exec(`UPDATE selection_batches SET stage = $2, published = $3, published_at = $4 WHERE batch_id = $1`,
				batchID, string(selection.StagePublished), list, e.RecordedAt)
		})
	default:
		return nil
	}
	if err != nil {
		return err
	}
	return touch()
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// Digest implements Projection.
func (SelectionBatches) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(batch_id, plan_batch_id, task_item, task_type, quota, province_quotas, per_application, notice_days,
				stage, deadline AT TIME ZONE 'UTC', overdue, notice_start AT TIME ZONE 'UTC', notice_end AT TIME ZONE 'UTC', notice_list,
				assign_round, proposed_round, proposed, confirmed, published, published_at AT TIME ZONE 'UTC',
				opened_at AT TIME ZONE 'UTC', opened_by, updated_at AT TIME ZONE 'UTC', version)::text
			FROM selection_batches ORDER BY batch_id COLLATE "C"`,
		`SELECT jsonb_build_array(batch_id, application_id, province, rank, outcome, reason, until AT TIME ZONE 'UTC',
				resubmitted, experts, removed)::text
			FROM selection_batch_applications ORDER BY batch_id COLLATE "C", application_id COLLATE "C"`,
		`SELECT jsonb_build_array(batch_id, objection_id, application_id, name, contact, text, filed_at AT TIME ZONE 'UTC',
				outcome, reason, adjudicated_at AT TIME ZONE 'UTC', adjudicated_by)::text
			FROM selection_batch_objections ORDER BY batch_id COLLATE "C", objection_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("selection_batches digest: %w", err)
	}
	return d, nil
}

// ErrSelectionBatchNotFound is returned by GetSelectionBatch for a batch the
// read model does not hold.
var ErrSelectionBatchNotFound = errors.New("selection batch not found")

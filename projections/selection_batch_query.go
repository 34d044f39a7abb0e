package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/selection"
)

// SelectionBatchRecord is a batch as the read model holds it.
type SelectionBatchRecord struct {
	BatchID        string                   `json:"batch_id"`
	PlanBatchID    string                   `json:"plan_batch_id"`
	TaskItem       string                   `json:"task_item"`
	TaskType       string                   `json:"task_type"`
	Quota          int                      `json:"quota"`
	ProvinceQuotas map[string]int           `json:"province_quotas"`
	PerApplication int                      `json:"per_application"`
	NoticeDays     int                      `json:"notice_days"`
	Stage          selection.Stage          `json:"stage"`
	Deadline       time.Time                `json:"deadline"`
	Overdue        bool                     `json:"overdue"`
	Notice         *NoticeRecord            `json:"notice,omitempty"`
	AssignRound    int                      `json:"assign_round"`
	ProposedRound  int                      `json:"proposed_round"`
	Proposed       []string                 `json:"proposed,omitempty"`
	Confirmed      []string                 `json:"confirmed,omitempty"`
	Published      []string                 `json:"published,omitempty"`
	PublishedAt    *time.Time               `json:"published_at,omitempty"`
	OpenedAt       time.Time                `json:"opened_at"`
	OpenedBy       string                   `json:"opened_by"`
	UpdatedAt      time.Time                `json:"updated_at"`
	Version        int64                    `json:"version"`
	Applications   []BatchApplicationRecord `json:"applications"`
	Objections     []BatchObjectionRecord   `json:"objections"`
}

// NoticeRecord is the public notice (公示).
type NoticeRecord struct {
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	WorkingDays int       `json:"working_days"`
	List        []string  `json:"list"`
}

// BatchApplicationRecord is one recommended application in a batch, with
// what the application read model knows of it (empty if it does not).
type BatchApplicationRecord struct {
	ApplicationID string            `json:"application_id"`
	Province      string            `json:"province"`
	Rank          int               `json:"rank"`
	Outcome       selection.Outcome `json:"outcome,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	Until         *time.Time        `json:"until,omitempty"`
	Resubmitted   bool              `json:"resubmitted,omitempty"`
	Experts       []string          `json:"experts"`
	Removed       bool              `json:"removed,omitempty"`
	Title         string            `json:"title"`
	School        string            `json:"school"`
}

// BatchObjectionRecord is one objection. Name and Contact identify the
// objector: only ministry staff may see them.
type BatchObjectionRecord struct {
	ObjectionID   string                 `json:"objection_id"`
	Application   string                 `json:"application"`
	Name          string                 `json:"name,omitempty"`
	Contact       string                 `json:"contact,omitempty"`
	Text          string                 `json:"text"`
	FiledAt       time.Time              `json:"filed_at"`
	Outcome       selection.Adjudication `json:"outcome,omitempty"`
	Reason        string                 `json:"reason,omitempty"`
	AdjudicatedAt *time.Time             `json:"adjudicated_at,omitempty"`
}

func utcPtr(t *time.Time) *time.Time {
	if t != nil {
		u := t.UTC()
		return &u
	}
	return nil
}

// GetSelectionBatch returns a batch with its applications (by province, then
// rank) and objections (by filing time). Errors: ErrSelectionBatchNotFound.
func GetSelectionBatch(ctx context.Context, q Querier, id string) (SelectionBatchRecord, error) {
	rows, err := q.Query(ctx, `SELECT batch_id, plan_batch_id, task_item, task_type, quota, province_quotas, per_application,
			notice_days, stage, deadline, overdue, notice_start, notice_end, notice_list, assign_round, proposed_round, proposed,
			confirmed, published, published_at, opened_at, opened_by, updated_at, version
		FROM selection_batches WHERE batch_id = $1`, id)
	if err != nil {
		return SelectionBatchRecord{}, fmt.Errorf("get selection batch %s: %w", id, err)
	}
	b, err := pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (SelectionBatchRecord, error) {
		var (
			b          SelectionBatchRecord
			start, end *time.Time
			list       []string
		)
		err := row.Scan(&b.BatchID, &b.PlanBatchID, &b.TaskItem, &b.TaskType, &b.Quota, &b.ProvinceQuotas, &b.PerApplication,
			&b.NoticeDays, &b.Stage, &b.Deadline, &b.Overdue, &start, &end, &list, &b.AssignRound, &b.ProposedRound, &b.Proposed,
			&b.Confirmed, &b.Published, &b.PublishedAt, &b.OpenedAt, &b.OpenedBy, &b.UpdatedAt, &b.Version)
		if start != nil && end != nil {
			b.Notice = &NoticeRecord{Start: start.UTC(), End: end.UTC(), WorkingDays: b.NoticeDays, List: nonNil(list)}
		}
		b.Deadline, b.OpenedAt, b.UpdatedAt, b.PublishedAt = b.Deadline.UTC(), b.OpenedAt.UTC(), b.UpdatedAt.UTC(), utcPtr(b.PublishedAt)
		return b, err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("get selection batch %s: %w", id, ErrSelectionBatchNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("get selection batch %s: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT b.application_id, b.province, b.rank, b.outcome, b.reason, b.until, b.resubmitted, b.experts,
			b.removed, coalesce(a.title, ''), coalesce(a.school, '')
		FROM selection_batch_applications b LEFT JOIN selection_applications a ON a.application_id = b.application_id
		WHERE b.batch_id = $1 ORDER BY b.province COLLATE "C", b.rank`, id)
	if err != nil {
		return b, fmt.Errorf("applications of batch %s: %w", id, err)
	}
	b.Applications, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (BatchApplicationRecord, error) {
		var a BatchApplicationRecord
		err := row.Scan(&a.ApplicationID, &a.Province, &a.Rank, &a.Outcome, &a.Reason, &a.Until, &a.Resubmitted, &a.Experts,
			&a.Removed, &a.Title, &a.School)
		a.Until = utcPtr(a.Until)
		return a, err
	})
	if err != nil {
		return b, fmt.Errorf("applications of batch %s: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT objection_id, application_id, name, contact, text, filed_at, outcome, reason, adjudicated_at
		FROM selection_batch_objections WHERE batch_id = $1 ORDER BY filed_at, objection_id COLLATE "C"`, id)
	if err != nil {
		return b, fmt.Errorf("objections of batch %s: %w", id, err)
	}
	b.Objections, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (BatchObjectionRecord, error) {
		var o BatchObjectionRecord
		err := row.Scan(&o.ObjectionID, &o.Application, &o.Name, &o.Contact, &o.Text, &o.FiledAt, &o.Outcome, &o.Reason, &o.AdjudicatedAt)
		o.FiledAt, o.AdjudicatedAt = o.FiledAt.UTC(), utcPtr(o.AdjudicatedAt)
		return o, err
	})
	if err != nil {
		return b, fmt.Errorf("objections of batch %s: %w", id, err)
	}
	return b, nil
}

package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"keytask/domain/performance"
	"keytask/events"
)

// Performance is the read model of the yearly performance collections
// (年度执行绩效): each year's collection, each project's report with its
// latest draft and its current submission, and every report event as
// history. Money is kept in yuan per source; the roll-ups in
// performance_query.go count only reports whose submission stands (submitted
// or locked, not returned).
type Performance struct{}

// Name implements Projection.
func (Performance) Name() string { return "performance" }

// SchemaVersion implements Projection.
func (Performance) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (Performance) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS performance_collections (
	year          int         PRIMARY KEY,
	workflow_id   text        NOT NULL,
	deadline      timestamptz NOT NULL,
	offsets       jsonb       NOT NULL, -- reminder offsets in nanoseconds
	projects      int         NOT NULL,
	stage         text        NOT NULL, -- open, passed, closed
	reminders     int         NOT NULL DEFAULT 0,
	escalations   jsonb       NOT NULL DEFAULT '{}', -- province → projects owed at the deadline
	summary       jsonb,
	opened_at     timestamptz NOT NULL,
	closed_at     timestamptz
);
CREATE TABLE IF NOT EXISTS performance_reports (
	year            int         NOT NULL,
	project_id      text        NOT NULL,
	batch_id        text        NOT NULL,
	task_item       text        NOT NULL,
	task_type       text        NOT NULL,
	application     text        NOT NULL,
	school          text        NOT NULL,
	province        text        NOT NULL,
	deadline        timestamptz NOT NULL,
	status          text        NOT NULL,
	late            boolean     NOT NULL DEFAULT false,
	submissions     int         NOT NULL DEFAULT 0,
	reminders       int         NOT NULL DEFAULT 0,
	first_submitted timestamptz,
	last_submitted  timestamptz,
	draft           jsonb,       -- the latest draft (performance.Report)
	report          jsonb,       -- the latest submission (performance.Report)
	return_reason   text        NOT NULL DEFAULT '',
	updated_at      timestamptz NOT NULL,
	version         bigint      NOT NULL,
	PRIMARY KEY (year, project_id)
);
CREATE INDEX IF NOT EXISTS performance_reports_school ON performance_reports (school, year);
CREATE TABLE IF NOT EXISTS performance_report_history (
	year        int         NOT NULL,
	project_id  text        NOT NULL,
	version     bigint      NOT NULL,
	type        text        NOT NULL,
	at          timestamptz NOT NULL,
	actor       text        NOT NULL,
	payload     jsonb       NOT NULL,
	PRIMARY KEY (year, project_id, version)
);`)
	return err
}

// Reset implements Projection.
func (Performance) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE performance_collections, performance_reports, performance_report_history`)
	return err
}

// Apply implements Projection.
func (p Performance) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	if !strings.HasPrefix(e.StreamID, "performance-collection-") && !strings.HasPrefix(e.StreamID, "performance-report-") {
		return nil
	}
	if err := p.apply(ctx, tx, e); err != nil {
		return fmt.Errorf("%s: apply %s %s: %w", p.Name(), e.Type, e.ID, err)
	}
	return nil
}

func (Performance) apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	exec := func(sql string, args ...any) error {
		_, err := tx.Exec(ctx, sql, args...)
		return err
	}
	history := func(year int, project string) error {
		return exec(`INSERT INTO performance_report_history (year, project_id, version, type, at, actor, payload)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, year, project, e.StreamVersion, e.Type, e.RecordedAt, e.Metadata.ActorID, string(e.Data))
	}
	switch e.Type {
	case performance.TypeCollectionOpened:
		return applyPayload(e, func(v performance.CollectionOpened) error {
			offsets, err := json.Marshal(v.ReminderOffsets)
			if err != nil {
				return err
			}
			return exec(`INSERT INTO performance_collections (year, workflow_id, deadline, offsets, projects, stage, opened_at)
				VALUES ($1, $2, $3, $4, $5, 'open', $6)`, v.Year, e.Metadata.WorkflowID, v.Deadline, offsets, v.Projects, e.RecordedAt)
		})
	case performance.TypeCollectionDeadlineExtended:
		// Every report of the year shares the collection's deadline.
		return applyPayload(e, func(v performance.CollectionDeadlineExtended) error {
			if err := exec(`UPDATE performance_collections SET deadline = $2 WHERE year = $1`, v.Year, v.To); err != nil {
				return err
			}
			return exec(`UPDATE performance_reports SET deadline = $2 WHERE year = $1`, v.Year, v.To)
		})
	case performance.TypeReminderSent:
		return applyPayload(e, func(v performance.ReminderSent) error {
			if err := exec(`UPDATE performance_collections SET reminders = reminders + 1 WHERE year = $1`, v.Year); err != nil {
				return err
			}
			return exec(`UPDATE performance_reports SET reminders = reminders + 1 WHERE year = $1 AND project_id = $2`, v.Year, v.ProjectID)
		})
	case performance.TypeEscalated:
		return applyPayload(e, func(v performance.Escalated) error {
			projects, err := json.Marshal(v.Projects)
			if err != nil {
				return err
			}
			return exec(`UPDATE performance_collections SET stage = 'passed',
				escalations = escalations || jsonb_build_object($2::text, $3::jsonb) WHERE year = $1`, v.Year, v.Province, string(projects))
		})
	case performance.TypeReportMarkedLate:
		return applyPayload(e, func(v performance.ReportMarkedLate) error {
			return exec(`UPDATE performance_reports SET late = true WHERE year = $1 AND project_id = $2`, v.Year, v.ProjectID)
		})
	case performance.TypeCollectionClosed:
		return applyPayload(e, func(v performance.CollectionClosed) error {
			summary, err := json.Marshal(v)
			if err != nil {
				return err
			}
			return exec(`UPDATE performance_collections SET stage = 'closed', summary = $2, closed_at = $3 WHERE year = $1`, v.Year, summary, e.RecordedAt)
		})
	case performance.TypeReportOpened:
		return applyPayload(e, func(v performance.ReportOpened) error {
			if err := exec(`INSERT INTO performance_reports (year, project_id, batch_id, task_item, task_type, application, school, province,
					deadline, status, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				v.Year, v.ProjectID, v.BatchID, v.TaskItem, v.TaskType, v.Application, v.School, v.Province, v.Deadline,
				string(performance.StatusOpen), e.RecordedAt, e.StreamVersion); err != nil {
				return err
			}
			return history(v.Year, v.ProjectID)
		})
	case performance.TypeReportDraftSaved:
		return applyPayload(e, func(v performance.ReportDraftSaved) error {
			draft, err := json.Marshal(v.Report)
			if err != nil {
				return err
			}
			if err := exec(`UPDATE performance_reports SET status = $3, draft = $4, updated_at = $5, version = $6 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusDraft), draft, e.RecordedAt, e.StreamVersion); err != nil {
				return err
			}
			return history(v.Year, v.ProjectID)
		})
	case performance.TypeReportSubmitted:
		return applyPayload(e, func(v performance.ReportSubmitted) error {
			rep, err := json.Marshal(v.Report)
			if err != nil {
				return err
			}
			if err := exec(`UPDATE performance_reports SET status = $3, report = $4, draft = NULL, submissions = $5, late = late OR $6,
					first_submitted = coalesce(first_submitted, $7), last_submitted = $7, return_reason = '', updated_at = $8, version = $9
				WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusSubmitted), rep, v.Submission, v.Late, v.At, e.RecordedAt, e.StreamVersion); err != nil {
				return err
			}
			return history(v.Year, v.ProjectID)
		})
	case performance.TypeReportReturned:
		return applyPayload(e, func(v performance.ReportReturned) error {
			if err := exec(`UPDATE performance_reports SET status = $3, return_reason = $4, updated_at = $5, version = $6 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusReturned), v.Reason, e.RecordedAt, e.StreamVersion); err != nil {
				return err
			}
			return history(v.Year, v.ProjectID)
		})
	case performance.TypeReportLocked:
		return applyPayload(e, func(v performance.ReportLocked) error {
			if err := exec(`UPDATE performance_reports SET status = $3, updated_at = $4, version = $5 WHERE year = $1 AND project_id = $2`,
				v.Year, v.ProjectID, string(performance.StatusLocked), e.RecordedAt, e.StreamVersion); err != nil {
				return err
			}
			return history(v.Year, v.ProjectID)
		})
	}
	return nil
}

// Digest implements Projection.
func (Performance) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	return digestTables(ctx, tx,
		`SELECT jsonb_build_array(year, workflow_id, deadline AT TIME ZONE 'UTC', offsets, projects, stage, reminders, escalations,
				summary, opened_at AT TIME ZONE 'UTC', closed_at AT TIME ZONE 'UTC')::text
			FROM performance_collections ORDER BY year`,
		`SELECT jsonb_build_array(year, project_id, batch_id, task_item, task_type, application, school, province,
				deadline AT TIME ZONE 'UTC', status, late, submissions, reminders, first_submitted AT TIME ZONE 'UTC',
				last_submitted AT TIME ZONE 'UTC', draft, report, return_reason, updated_at AT TIME ZONE 'UTC', version)::text
			FROM performance_reports ORDER BY year, project_id COLLATE "C"`,
		`SELECT jsonb_build_array(year, project_id, version, type, at AT TIME ZONE 'UTC', actor, payload)::text
			FROM performance_report_history ORDER BY year, project_id COLLATE "C", version`)
}

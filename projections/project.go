package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

// Projects is the read model of published projects under tracking: status,
// flags, inspections, evaluators and evaluations, with each project's school
// and province for scoping.
type Projects struct{}

// Name implements Projection.
func (Projects) Name() string { return "projects" }

// SchemaVersion implements Projection.
func (Projects) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (Projects) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS project_applications (
	application_id text PRIMARY KEY,
	school         text NOT NULL,
	title          text NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
	project_id    text        PRIMARY KEY,
	batch_id      text        NOT NULL,
	task_item     text        NOT NULL,
	task_type     text        NOT NULL,
	application   text        NOT NULL,
	title         text        NOT NULL,
	school        text        NOT NULL,
	province      text        NOT NULL,
	rank          int         NOT NULL,
	status        text        NOT NULL,
	flag_reason   text        NOT NULL DEFAULT '',
	rectify_by    timestamptz,
	revoke_reason text        NOT NULL DEFAULT '',
	accepted_at   timestamptz,
	acceptance    text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_province_idx ON projects (province);
CREATE TABLE IF NOT EXISTS project_evaluators (
	project_id  text        NOT NULL,
	evaluator   text        NOT NULL,
	assigned_at timestamptz NOT NULL,
	PRIMARY KEY (project_id, evaluator)
);
CREATE INDEX IF NOT EXISTS project_evaluators_evaluator_idx ON project_evaluators (evaluator);
CREATE TABLE IF NOT EXISTS project_inspections (
	project_id    text        NOT NULL,
	inspection_id text        NOT NULL,
	date          timestamptz NOT NULL,
	note          text        NOT NULL,
	scheduled_at  timestamptz NOT NULL,
	findings      text        NOT NULL DEFAULT '',
	conclusion    text        NOT NULL DEFAULT '',
	recorded_at   timestamptz,
	PRIMARY KEY (project_id, inspection_id)
);
CREATE TABLE IF NOT EXISTS project_evaluations (
	project_id    text        NOT NULL,
	evaluation_id text        NOT NULL,
	evaluator     text        NOT NULL,
	conclusion    text        NOT NULL,
	summary       text        NOT NULL,
	submitted_at  timestamptz NOT NULL,
	PRIMARY KEY (project_id, evaluation_id)
);`)
	return err
}

// Reset implements Projection.
func (Projects) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE project_applications, projects, project_evaluators, project_inspections, project_evaluations`)
	return err
}

// Apply implements Projection. The application's school is remembered from
// its ApplicationCreated, so a project knows its school without reading
// another read model (which may be behind or rebuilding).
func (Projects) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	var err error
	at := e.RecordedAt
	touch := func(project string) error {
		_, err := tx.Exec(ctx, `UPDATE projects SET updated_at = $2 WHERE project_id = $1`, project, at)
		return err
	}
	switch e.Type {
	case selection.TypeApplicationCreated:
		var p selection.ApplicationCreated
		if p, err = decodePayload[selection.ApplicationCreated](e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO project_applications (application_id, school, title) VALUES ($1, $2, $3)`,
			p.ApplicationID, p.School, p.Title)
	case selection.TypeProjectCreated:
		var p selection.ProjectCreated
		if p, err = decodePayload[selection.ProjectCreated](e); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO projects (project_id, batch_id, task_item, task_type, application, title, school, province, rank, status, created_at, updated_at)
			SELECT $1, $2, $3, $4, $5, coalesce(a.title, ''), coalesce(a.school, ''), $6, $7, $8, $9, $9
			FROM (SELECT 1) one LEFT JOIN project_applications a ON a.application_id = $5`,
			p.ProjectID, p.BatchID, p.TaskItem, p.TaskType, p.Application, p.Province, p.Rank, string(tracking.StatusActive), at)
	default:
		payload, ok, derr := events.DecodeIf[tracking.Event](eventtypes.Registry, e)
		if derr != nil || !ok {
			return derr
		}
		switch p := payload.(type) {
		case tracking.EvaluatorAssigned:
			_, err = tx.Exec(ctx, `INSERT INTO project_evaluators (project_id, evaluator, assigned_at) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, p.ProjectID, p.Evaluator, at)
			if err == nil {
				err = touch(p.ProjectID)
			}
		case tracking.InspectionScheduled:
			_, err = tx.Exec(ctx, `INSERT INTO project_inspections (project_id, inspection_id, date, note, scheduled_at) VALUES ($1, $2, $3, $4, $5)`,
				p.ProjectID, p.InspectionID, p.Date, p.Note, at)
			if err == nil {
				err = touch(p.ProjectID)
			}
		case tracking.InspectionRecorded:
			_, err = tx.Exec(ctx, `UPDATE project_inspections SET findings = $3, conclusion = $4, recorded_at = $5
				WHERE project_id = $1 AND inspection_id = $2`, p.ProjectID, p.InspectionID, p.Findings, string(p.Conclusion), at)
			if err == nil {
				err = touch(p.ProjectID)
			}
		case tracking.EvaluationSubmitted:
			_, err = tx.Exec(ctx, `INSERT INTO project_evaluations (project_id, evaluation_id, evaluator, conclusion, summary, submitted_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, p.ProjectID, p.EvaluationID, p.Evaluator, string(p.Conclusion), p.Summary, at)
			if err == nil {
				err = touch(p.ProjectID)
			}
		case tracking.ProjectFlagged:
			_, err = tx.Exec(ctx, `UPDATE projects SET status = $2, flag_reason = $3, rectify_by = $4, updated_at = $5 WHERE project_id = $1`,
				p.ProjectID, string(tracking.StatusFlagged), p.Reason, p.RectifyBy, at)
		case tracking.RectificationConfirmed:
			_, err = tx.Exec(ctx, `UPDATE projects SET status = $2, flag_reason = '', rectify_by = NULL, updated_at = $3 WHERE project_id = $1`,
				p.ProjectID, string(tracking.StatusActive), at)
		case tracking.ProjectRevoked:
			_, err = tx.Exec(ctx, `UPDATE projects SET status = $2, revoke_reason = $3, updated_at = $4 WHERE project_id = $1`,
				p.ProjectID, string(tracking.StatusRevoked), p.Reason, at)
		case tracking.ProjectAccepted:
			_, err = tx.Exec(ctx, `UPDATE projects SET status = $2, accepted_at = $3, acceptance = $4, updated_at = $5 WHERE project_id = $1`,
				p.ProjectID, string(tracking.StatusAccepted), p.AcceptedAt, p.Conclusion, at)
		}
	}
	if err != nil {
		return fmt.Errorf("projects: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Digest implements Projection.
func (Projects) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(application_id, school, title)::text FROM project_applications ORDER BY application_id COLLATE "C"`,
		`SELECT jsonb_build_array(project_id, batch_id, task_item, task_type, application, title, school, province, rank, status,
				flag_reason, rectify_by AT TIME ZONE 'UTC', revoke_reason, accepted_at AT TIME ZONE 'UTC', acceptance,
				created_at AT TIME ZONE 'UTC', updated_at AT TIME ZONE 'UTC')::text FROM projects ORDER BY project_id COLLATE "C"`,
		`SELECT jsonb_build_array(project_id, evaluator, assigned_at AT TIME ZONE 'UTC')::text FROM project_evaluators
			ORDER BY project_id COLLATE "C", evaluator COLLATE "C"`,
		`SELECT jsonb_build_array(project_id, inspection_id, date AT TIME ZONE 'UTC', note, scheduled_at AT TIME ZONE 'UTC', findings, conclusion,
				recorded_at AT TIME ZONE 'UTC')::text FROM project_inspections ORDER BY project_id COLLATE "C", inspection_id COLLATE "C"`,
		`SELECT jsonb_build_array(project_id, evaluation_id, evaluator, conclusion, summary, submitted_at AT TIME ZONE 'UTC')::text
			FROM project_evaluations ORDER BY project_id COLLATE "C", evaluation_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("projects digest: %w", err)
	}
	return d, nil
}

// ErrProjectNotFound is returned by GetProject for a project the read model
// does not hold.
var ErrProjectNotFound = errors.New("project not found")

// ProjectRecord is a project as the list shows it.
type ProjectRecord struct {
	ProjectID    string          `json:"project_id"`
	BatchID      string          `json:"batch_id"`
	TaskItem     string          `json:"task_item"`
	TaskType     string          `json:"task_type"`
	Application  string          `json:"application"`
	Title        string          `json:"title"`
	School       string          `json:"school"`
	Province     string          `json:"province"`
	Rank         int             `json:"rank"`
	Status       tracking.Status `json:"status"`
	StatusLabel  string          `json:"status_label"`
	FlagReason   string          `json:"flag_reason,omitempty"`
	RectifyBy    *time.Time      `json:"rectify_by,omitempty"`
	RevokeReason string          `json:"revoke_reason,omitempty"`
	AcceptedAt   *time.Time      `json:"accepted_at,omitempty"`
	Acceptance   string          `json:"acceptance,omitempty"`
	Evaluators   []string        `json:"evaluators"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
}

// InspectionRecord is one inspection of a project.
type InspectionRecord struct {
	InspectionID string     `json:"inspection_id"`
	Date         time.Time  `json:"date"`
	Note         string     `json:"note"`
	ScheduledAt  time.Time  `json:"scheduled_at"`
	Findings     string     `json:"findings,omitempty"`
	Conclusion   string     `json:"conclusion,omitempty"`
	RecordedAt   *time.Time `json:"recorded_at,omitempty"`
}

// EvaluationRecord is one third-party evaluation of a project.
type EvaluationRecord struct {
	EvaluationID string    `json:"evaluation_id"`
	Evaluator    string    `json:"evaluator"`
	Conclusion   string    `json:"conclusion"`
	Summary      string    `json:"summary"`
	SubmittedAt  time.Time `json:"submitted_at"`
}

// ProjectDetail is a project with its inspections and evaluations.
type ProjectDetail struct {
	ProjectRecord
	Inspections []InspectionRecord `json:"inspections"`
	Evaluations []EvaluationRecord `json:"evaluations"`
}

// ProjectFilter narrows ListProjects; empty fields do not filter.
type ProjectFilter struct {
	Province  string
	School    string
	Evaluator string // only projects this evaluator is assigned to
	Status    tracking.Status
	// OverdueAt keeps only the flagged projects whose rectification deadline
	// passed before it; zero does not filter.
	OverdueAt time.Time
}

const projectColumns = `p.project_id, p.batch_id, p.task_item, p.task_type, p.application, p.title, p.school, p.province, p.rank,
	p.status, p.flag_reason, p.rectify_by, p.revoke_reason, p.accepted_at, p.acceptance, p.created_at, p.updated_at,
	coalesce((SELECT array_agg(v.evaluator ORDER BY v.evaluator COLLATE "C") FROM project_evaluators v WHERE v.project_id = p.project_id), '{}')`

func scanProject(row pgx.CollectableRow) (ProjectRecord, error) {
	var r ProjectRecord
	err := row.Scan(&r.ProjectID, &r.BatchID, &r.TaskItem, &r.TaskType, &r.Application, &r.Title, &r.School, &r.Province, &r.Rank,
		&r.Status, &r.FlagReason, &r.RectifyBy, &r.RevokeReason, &r.AcceptedAt, &r.Acceptance, &r.CreatedAt, &r.UpdatedAt, &r.Evaluators)
	r.StatusLabel = r.Status.Label()
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// ListProjects returns the projects that match f, by project id.
func ListProjects(ctx context.Context, q Querier, f ProjectFilter) ([]ProjectRecord, error) {
	rows, err := q.Query(ctx, `SELECT `+projectColumns+` FROM projects p
		WHERE ($1 = '' OR p.province = $1) AND ($2 = '' OR p.school = $2) AND ($3 = '' OR p.status = $3)
			AND ($4 = '' OR EXISTS (SELECT 1 FROM project_evaluators v WHERE v.project_id = p.project_id AND v.evaluator = $4))
			AND ($5::timestamptz IS NULL OR (p.status = 'flagged' AND p.rectify_by < $5))
		ORDER BY p.project_id COLLATE "C"`, f.Province, f.School, string(f.Status), f.Evaluator, overdueAt(f.OverdueAt))
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanProject)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return out, nil
}

func overdueAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// GetProject returns one project with its inspections and evaluations.
// Errors: ErrProjectNotFound.
func GetProject(ctx context.Context, q Querier, id string) (ProjectDetail, error) {
	var d ProjectDetail
	rows, err := q.Query(ctx, `SELECT `+projectColumns+` FROM projects p WHERE p.project_id = $1`, id)
	if err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	d.ProjectRecord, err = pgx.CollectExactlyOneRow(rows, scanProject)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("get project %s: %w", id, ErrProjectNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT inspection_id, date, note, scheduled_at, findings, conclusion, recorded_at
		FROM project_inspections WHERE project_id = $1 ORDER BY scheduled_at, inspection_id COLLATE "C"`, id)
	if err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	if d.Inspections, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (InspectionRecord, error) {
		var r InspectionRecord
		err := row.Scan(&r.InspectionID, &r.Date, &r.Note, &r.ScheduledAt, &r.Findings, &r.Conclusion, &r.RecordedAt)
		r.Date, r.ScheduledAt = r.Date.UTC(), r.ScheduledAt.UTC()
		return r, err
	}); err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT evaluation_id, evaluator, conclusion, summary, submitted_at
		FROM project_evaluations WHERE project_id = $1 ORDER BY submitted_at, evaluation_id COLLATE "C"`, id)
	if err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	if d.Evaluations, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (EvaluationRecord, error) {
		var r EvaluationRecord
		err := row.Scan(&r.EvaluationID, &r.Evaluator, &r.Conclusion, &r.Summary, &r.SubmittedAt)
		r.SubmittedAt = r.SubmittedAt.UTC()
		return r, err
	}); err != nil {
		return d, fmt.Errorf("get project %s: %w", id, err)
	}
	if d.Inspections == nil {
		d.Inspections = []InspectionRecord{}
	}
	if d.Evaluations == nil {
		d.Evaluations = []EvaluationRecord{}
	}
	return d, nil
}

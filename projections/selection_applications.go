package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// SelectionApplications is the read model of applications (申报): each one's
// current state, structured fields and attachments.
type SelectionApplications struct{}

// Name implements Projection.
func (SelectionApplications) Name() string { return "selection_applications" }

// SchemaVersion implements Projection.
func (SelectionApplications) SchemaVersion() int { return 1 }

// Setup implements Projection.
func (SelectionApplications) Setup(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `
CREATE TABLE IF NOT EXISTS selection_applications (
	application_id  text        PRIMARY KEY,
	batch_id        text        NOT NULL,
	task_item       text        NOT NULL,
	task_type       text        NOT NULL,
	title           text        NOT NULL,
	applicant_role  text        NOT NULL,
	applicant       text        NOT NULL,
	school          text        NOT NULL,
	province        text        NOT NULL,
	fields          jsonb       NOT NULL DEFAULT '{}',
	status          text        NOT NULL,
	created_at      timestamptz NOT NULL,
	created_by      text        NOT NULL,
	updated_at      timestamptz NOT NULL,
	submitted_at    timestamptz,
	return_reason   text        NOT NULL DEFAULT '',
	return_until    timestamptz,
	version         bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS selection_applications_task_idx ON selection_applications (task_type, province);
CREATE INDEX IF NOT EXISTS selection_applications_school_idx ON selection_applications (school);
CREATE TABLE IF NOT EXISTS selection_application_attachments (
	application_id text        NOT NULL,
	attachment_id  text        NOT NULL,
	sha256         text        NOT NULL,
	name           text        NOT NULL,
	media_type     text        NOT NULL,
	size           bigint      NOT NULL,
	added_at       timestamptz NOT NULL,
	added_by       text        NOT NULL,
	PRIMARY KEY (application_id, attachment_id)
);
CREATE INDEX IF NOT EXISTS selection_application_attachments_sha_idx ON selection_application_attachments (sha256);`)
	return err
}

// Reset implements Projection.
func (SelectionApplications) Reset(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `TRUNCATE selection_applications, selection_application_attachments`)
	return err
}

// Apply implements Projection.
func (SelectionApplications) Apply(ctx context.Context, tx pgx.Tx, e events.Event) error {
	payload, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, e)
	if !ok || err != nil {
		return err
	}
	const bump = `updated_at = $2, version = version + 1`
	switch p := payload.(type) {
	case selection.ApplicationCreated:
		_, err = tx.Exec(ctx, `INSERT INTO selection_applications (application_id, batch_id, task_item, task_type, title,
				applicant_role, applicant, school, province, status, created_at, created_by, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, 'school', $6, $6, $7, 'draft', $8, $9, $8, 1)`,
			p.ApplicationID, p.BatchID, p.TaskItem, p.TaskType, p.Title, p.School, p.Province, e.RecordedAt, e.Metadata.ActorID)
	case selection.ApplicationFiledByProvince:
		_, err = tx.Exec(ctx, `UPDATE selection_applications SET applicant_role = 'province', applicant = $3, `+bump+`
			WHERE application_id = $1`, p.ApplicationID, e.RecordedAt, p.Province)
	case selection.ApplicationEdited:
		err = applyEdited(ctx, tx, e, p)
	case selection.ApplicationAttachmentAdded:
		_, err = tx.Exec(ctx, `INSERT INTO selection_application_attachments
				(application_id, attachment_id, sha256, name, media_type, size, added_at, added_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			p.ApplicationID, p.AttachmentID, p.SHA256, p.Name, p.MediaType, p.Size, e.RecordedAt, e.Metadata.ActorID)
		if err == nil {
			_, err = tx.Exec(ctx, `UPDATE selection_applications SET `+bump+` WHERE application_id = $1`, p.ApplicationID, e.RecordedAt)
		}
	case selection.ApplicationSubmitted:
		// The first submission counts for ranking ties, so a resubmission keeps it.
		_, err = tx.Exec(ctx, `UPDATE selection_applications SET status = 'submitted', submitted_at = coalesce(submitted_at, $3),
				return_reason = '', return_until = NULL, `+bump+` WHERE application_id = $1`, p.ApplicationID, e.RecordedAt, p.At)
	case selection.ApplicationReturned:
		var until *time.Time
		if !p.Until.IsZero() {
			until = &p.Until
		}
		_, err = tx.Exec(ctx, `UPDATE selection_applications SET status = 'returned', return_reason = $3, return_until = $4, `+bump+`
			WHERE application_id = $1`, p.ApplicationID, e.RecordedAt, p.Reason, until)
	}
	if err != nil {
		return fmt.Errorf("selection_applications: apply %s %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// applyEdited stores the edited content as typed JSON, read by the schema of
// the application's task type.
func applyEdited(ctx context.Context, tx pgx.Tx, e events.Event, p selection.ApplicationEdited) error {
	var taskType string
	if err := tx.QueryRow(ctx, `SELECT task_type FROM selection_applications WHERE application_id = $1`, p.ApplicationID).
		Scan(&taskType); err != nil {
		return fmt.Errorf("application %s: %w", p.ApplicationID, err)
	}
	fields, err := selection.Schemas[taskType].DecodeContent(p.Content)
	if err != nil {
		return err
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE selection_applications SET title = $3, fields = $4, updated_at = $2, version = version + 1
		WHERE application_id = $1`, p.ApplicationID, e.RecordedAt, p.Title, string(b))
	return err
}

// Digest implements Projection.
func (SelectionApplications) Digest(ctx context.Context, tx pgx.Tx) (string, error) {
	d, err := digestTables(ctx, tx,
		`SELECT jsonb_build_array(application_id, batch_id, task_item, task_type, title, applicant_role, applicant, school,
				province, fields, status, created_at AT TIME ZONE 'UTC', created_by, updated_at AT TIME ZONE 'UTC',
				submitted_at AT TIME ZONE 'UTC', return_reason, return_until AT TIME ZONE 'UTC', version)::text
			FROM selection_applications ORDER BY application_id COLLATE "C"`,
		`SELECT jsonb_build_array(application_id, attachment_id, sha256, name, media_type, size, added_at AT TIME ZONE 'UTC', added_by)::text
			FROM selection_application_attachments ORDER BY application_id COLLATE "C", attachment_id COLLATE "C"`)
	if err != nil {
		return "", fmt.Errorf("selection_applications digest: %w", err)
	}
	return d, nil
}

// ApplicationRecord is an application as the read model holds it.
type ApplicationRecord struct {
	ApplicationID string                        `json:"application_id"`
	BatchID       string                        `json:"batch_id"`
	TaskItem      string                        `json:"task_item"`
	TaskType      string                        `json:"task_type"`
	Title         string                        `json:"title"`
	Applicant     selection.Applicant           `json:"applicant"`
	School        string                        `json:"school"`
	Province      string                        `json:"province"`
	Fields        map[string]any                `json:"fields"`
	Status        selection.ApplicationStatus   `json:"status"`
	CreatedAt     time.Time                     `json:"created_at"`
	CreatedBy     string                        `json:"created_by"`
	UpdatedAt     time.Time                     `json:"updated_at"`
	SubmittedAt   *time.Time                    `json:"submitted_at,omitempty"`
	ReturnReason  string                        `json:"return_reason,omitempty"`
	ReturnUntil   *time.Time                    `json:"return_until,omitempty"`
	Version       int64                         `json:"version"`
	Attachments   []ApplicationAttachmentRecord `json:"attachments"`
}

// ApplicationAttachmentRecord is one file attached to an application.
type ApplicationAttachmentRecord struct {
	AttachmentID string    `json:"attachment_id"`
	SHA256       string    `json:"sha256"`
	Name         string    `json:"name"`
	MediaType    string    `json:"media_type"`
	Size         int64     `json:"size"`
	AddedAt      time.Time `json:"added_at"`
	AddedBy      string    `json:"added_by"`
}

// ErrApplicationNotFound is returned by GetApplication for an id the read
// model does not hold.
var ErrApplicationNotFound = errors.New("application not found")

const applicationColumns = `application_id, batch_id, task_item, task_type, title, applicant_role, applicant, school, province,
	fields, status, created_at, created_by, updated_at, submitted_at, return_reason, return_until, version`

func scanApplication(row pgx.CollectableRow) (ApplicationRecord, error) {
	var a ApplicationRecord
	err := row.Scan(&a.ApplicationID, &a.BatchID, &a.TaskItem, &a.TaskType, &a.Title, &a.Applicant.Role, &a.Applicant.Organisation,
		&a.School, &a.Province, &a.Fields, &a.Status, &a.CreatedAt, &a.CreatedBy, &a.UpdatedAt, &a.SubmittedAt,
		&a.ReturnReason, &a.ReturnUntil, &a.Version)
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	for _, t := range []*time.Time{a.SubmittedAt, a.ReturnUntil} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return a, err
}

// GetApplication returns one application with its attachments. Errors:
// ErrApplicationNotFound.
func GetApplication(ctx context.Context, q Querier, id string) (ApplicationRecord, error) {
	rows, err := q.Query(ctx, `SELECT `+applicationColumns+` FROM selection_applications WHERE application_id = $1`, id)
	if err != nil {
		return ApplicationRecord{}, fmt.Errorf("get application %s: %w", id, err)
	}
	a, err := pgx.CollectExactlyOneRow(rows, scanApplication)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("get application %s: %w", id, ErrApplicationNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("get application %s: %w", id, err)
	}
	rows, err = q.Query(ctx, `SELECT attachment_id, sha256, name, media_type, size, added_at, added_by
		FROM selection_application_attachments WHERE application_id = $1 ORDER BY added_at, attachment_id COLLATE "C"`, id)
	if err != nil {
		return a, fmt.Errorf("attachments of %s: %w", id, err)
	}
	a.Attachments, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ApplicationAttachmentRecord, error) {
		var t ApplicationAttachmentRecord
		err := row.Scan(&t.AttachmentID, &t.SHA256, &t.Name, &t.MediaType, &t.Size, &t.AddedAt, &t.AddedBy)
		t.AddedAt = t.AddedAt.UTC()
		return t, err
	})
	if err != nil {
		return a, fmt.Errorf("attachments of %s: %w", id, err)
	}
	return a, nil
}

// ApplicationFilter narrows ListApplications; empty fields match everything.
// Province and School are how scope is applied: the API sets them from the
// principal, never from the query string alone.
type ApplicationFilter struct {
	TaskType string
	BatchID  string
	Province string
	School   string
	Status   selection.ApplicationStatus
}

// ListApplications returns the applications matching f, without their
// attachments, by application id.
func ListApplications(ctx context.Context, q Querier, f ApplicationFilter) ([]ApplicationRecord, error) {
	rows, err := q.Query(ctx, `SELECT `+applicationColumns+` FROM selection_applications
		WHERE ($1 = '' OR task_type = $1) AND ($2 = '' OR batch_id = $2) AND ($3 = '' OR province = $3)
			AND ($4 = '' OR (school = $4 AND applicant_role = 'school')) AND ($5 = '' OR status = $5)
		ORDER BY application_id COLLATE "C"`, f.TaskType, f.BatchID, f.Province, f.School, string(f.Status))
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanApplication)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

// ApplicationsWithAttachment returns the ids of the applications that carry
// the file with the given SHA-256, by id.
func ApplicationsWithAttachment(ctx context.Context, q Querier, sha256 string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT application_id FROM selection_application_attachments WHERE sha256 = $1
		GROUP BY application_id ORDER BY application_id COLLATE "C"`, sha256)
	if err != nil {
		return nil, fmt.Errorf("applications with attachment %s: %w", sha256, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("applications with attachment %s: %w", sha256, err)
	}
	return ids, nil
}

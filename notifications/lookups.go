package notifications

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

// told are the event types whose data tells someone something (see render),
// kept those whose data later notices need (see keep). The notifier decodes
// only these; they are named by Go type, and the registry gives their names.
var (
	told = typesOf(intent.IntentReminderSent{}, performance.ReminderSent{}, performance.CollectionDeadlineExtended{},
		performance.Escalated{}, performance.ReportReturned{}, tracking.InspectionScheduled{}, tracking.ProjectFlagged{},
		tracking.ProjectRevoked{}, tracking.EvaluatorAssigned{}, tracking.ProjectAccepted{}, tracking.RectificationReminded{},
		tracking.RectificationOverdue{},
		selection.SelectionBatchOpened{}, selection.QualificationDecided{}, selection.ExpertsAssigned{},
		selection.ObjectionFiled{}, selection.SuccessorNoticed{}, selection.SelectionBatchPublished{})
	kept = typesOf(performance.ReportOpened{}, identity.EmailSet{}, selection.ProjectCreated{})
)

func typesOf(payloads ...any) map[string]bool {
	m := map[string]bool{}
	for _, p := range payloads {
		typ, ok := eventtypes.Registry.TypeOf(p)
		if !ok {
			panic(fmt.Sprintf("notifications: %T is not a registered event's data", p))
		}
		m[typ] = true
	}
	return m
}

// keep records what later notices need from an event's data: a report's owner
// (ReportOpened), a project's application and province (ProjectCreated), where
// a user wants notices mailed (EmailSet). Other data is left alone.
func keep(ctx context.Context, tx pgx.Tx, e events.Event, payload any) error {
	var err error
	switch p := payload.(type) {
	case performance.ReportOpened:
		_, err = tx.Exec(ctx, `INSERT INTO notification_reports (stream_id, year, project_id, school, province) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (stream_id) DO UPDATE SET school = excluded.school, province = excluded.province`,
			e.StreamID, p.Year, p.ProjectID, p.School, p.Province)
	case identity.EmailSet:
		if p.Email == "" {
			_, err = tx.Exec(ctx, `DELETE FROM notification_emails WHERE user_id = $1`, p.UserID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO notification_emails (user_id, email) VALUES ($1, $2)
				ON CONFLICT (user_id) DO UPDATE SET email = excluded.email`, p.UserID, p.Email)
		}
	case selection.ProjectCreated:
		_, err = tx.Exec(ctx, `INSERT INTO notification_projects (project_id, application, province) VALUES ($1, $2, $3)
			ON CONFLICT (project_id) DO NOTHING`, p.ProjectID, p.Application, p.Province)
	}
	return err
}

// lookup returns the facts the notice of an event's data needs from earlier
// events: the returned report's owner, the tracked project's school and
// province. It is an error if the event that should have recorded them never
// came.
func lookup(ctx context.Context, tx pgx.Tx, e events.Event, payload any) (facts, error) {
	var f facts
	var project string
	switch p := payload.(type) {
	case performance.ReportReturned:
		err := tx.QueryRow(ctx, `SELECT year, project_id, school FROM notification_reports WHERE stream_id = $1`, e.StreamID).
			Scan(&f.report.year, &f.report.project, &f.report.school)
		if errors.Is(err, pgx.ErrNoRows) {
			return f, fmt.Errorf("report stream %s was returned but never opened", e.StreamID)
		}
		return f, err
	case tracking.InspectionScheduled:
		project = p.ProjectID
	case tracking.ProjectFlagged:
		project = p.ProjectID
	case tracking.ProjectAccepted:
		project = p.ProjectID
	case tracking.ProjectRevoked:
		project = p.ProjectID
	case tracking.RectificationReminded:
		project = p.ProjectID
	case tracking.RectificationOverdue:
		project = p.ProjectID
	default:
		return f, nil
	}
	err := tx.QueryRow(ctx, `SELECT p.province, coalesce(a.school, '') FROM notification_projects p
		LEFT JOIN selection_applications a ON a.application_id = p.application WHERE p.project_id = $1`, project).
		Scan(&f.project.province, &f.project.school)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, fmt.Errorf("project %s has no ProjectCreated before this event", project)
	}
	return f, err
}

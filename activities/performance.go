package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"keytask/domain/performance"
	"keytask/domain/selection"
	"keytask/domain/tracking"
	"keytask/events"
)

// ActiveProjectsRequest asks for the projects a year's collection covers.
type ActiveProjectsRequest struct {
	Year int `json:"year"`
}

// ActivePerformanceProjects reads every project from the log that is neither
// revoked nor accepted, with the school and province of its application:
// the reports a collection opens. Three set queries, not one per project:
// a national year has well over a thousand.
func (a *Activities) ActivePerformanceProjects(ctx context.Context, req ActiveProjectsRequest) ([]performance.ReportOpened, error) {
	pool := a.Store.Pool()
	ended := map[string]bool{}
	rows, err := pool.Query(ctx, `SELECT DISTINCT stream_id FROM events WHERE type = ANY($1)`,
		[]string{tracking.TypeProjectRevoked, tracking.TypeProjectAccepted})
	if err != nil {
		return nil, fmt.Errorf("read ended projects: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, err
		}
		ended[s] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = pool.Query(ctx, `SELECT p.stream_id, p.data::text, a.data::text
		FROM events p LEFT JOIN events a ON a.type = $2 AND a.stream_id = 'application-' || (p.data->>'application')
		WHERE p.type = $1 ORDER BY p.stream_id`, selection.TypeProjectCreated, selection.TypeApplicationCreated)
	if err != nil {
		return nil, fmt.Errorf("read projects: %w", err)
	}
	defer rows.Close()
	var out []performance.ReportOpened
	for rows.Next() {
		var stream, pdata string
		var adata *string
		if err := rows.Scan(&stream, &pdata, &adata); err != nil {
			return nil, err
		}
		if ended[stream] {
			continue
		}
		var p selection.ProjectCreated
		if err := json.Unmarshal([]byte(pdata), &p); err != nil {
			return nil, fmt.Errorf("decode ProjectCreated: %w", err)
		}
		if adata == nil {
			return nil, temporal.NewNonRetryableApplicationError("project "+p.ProjectID+" has no application in the log", "UnknownApplication", nil)
		}
		var app selection.ApplicationCreated
		if err := json.Unmarshal([]byte(*adata), &app); err != nil {
			return nil, fmt.Errorf("decode ApplicationCreated: %w", err)
		}
		out = append(out, performance.ReportOpened{Year: req.Year, ProjectID: p.ProjectID, BatchID: p.BatchID,
			TaskItem: p.TaskItem, TaskType: p.TaskType, Application: p.Application, School: app.School, Province: p.Province})
	}
	return out, rows.Err()
}

// CollectionStep is what every batched collection activity needs to append
// idempotently: the collection stream at its expected version, and the
// workflow id its event ids derive from (as workflows.EventID does).
type CollectionStep struct {
	Stream     string          `json:"stream"`
	Expected   int64           `json:"expected"`
	WorkflowID string          `json:"workflow_id"`
	Metadata   events.Metadata `json:"metadata"`
}

// id derives an event id exactly as workflows.EventID does for the same step,
// so a workflow appending the same step itself finds it recorded.
func (s CollectionStep) id(step string) string {
	return events.DeriveID("workflow", s.WorkflowID, step).String()
}

func (s CollectionStep) spec(step, typ string, data any) (EventSpec, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return EventSpec{}, temporal.NewNonRetryableApplicationError("encode "+typ, "BadAppend", err)
	}
	md := s.Metadata
	md.WorkflowID = s.WorkflowID
	return EventSpec{ID: s.id(step), Type: typ, SchemaVersion: 1, Data: b, Metadata: md}, nil
}

// OpenReportsRequest opens a chunk of a year's reports.
type OpenReportsRequest struct {
	CollectionStep
	Deadline time.Time                  `json:"deadline"`
	Reports  []performance.ReportOpened `json:"reports"`
}

// OpenPerformanceReports appends ReportOpened as the first event of each
// report's stream. Ids derive from the workflow and the project, so a retry
// finds them recorded and appends nothing twice.
func (a *Activities) OpenPerformanceReports(ctx context.Context, req OpenReportsRequest) error {
	for _, r := range req.Reports {
		r.Deadline = req.Deadline
		spec, err := req.spec("open/"+r.ProjectID, performance.TypeReportOpened, r)
		if err != nil {
			return err
		}
		if _, err := a.Append(ctx, AppendRequest{Stream: performance.ReportStream(r.Year, r.ProjectID), Expected: events.NoStream, Events: []EventSpec{spec}}); err != nil {
			return err
		}
	}
	return nil
}

// ReportRef is a report as a reminder needs it.
type ReportRef struct {
	ProjectID string `json:"project_id"`
	School    string `json:"school"`
	Province  string `json:"province"`
}

// PerformanceRemindersRequest reminds the schools of Reports, Offset before
// the deadline.
type PerformanceRemindersRequest struct {
	CollectionStep
	Year     int           `json:"year"`
	Offset   time.Duration `json:"offset"`
	Deadline time.Time     `json:"deadline"`
	Reports  []ReportRef   `json:"reports"`
}

// RemindStep is the step name of a reminder: one per report per offset.
func RemindStep(offset time.Duration, projectID string) string {
	return fmt.Sprintf("remind/%s/%s", offset, projectID)
}

// LateStep is the step name of a late mark: one per report.
func LateStep(projectID string) string { return "late/" + projectID }

// SendPerformanceReminders records one ReminderSent per report in one append
// to the collection stream. The events are the reminders; the notification
// service delivers them.
func (a *Activities) SendPerformanceReminders(ctx context.Context, req PerformanceRemindersRequest) (AppendResult, error) {
	specs := make([]EventSpec, 0, len(req.Reports))
	for _, r := range req.Reports {
		spec, err := req.spec(RemindStep(req.Offset, r.ProjectID), performance.TypeReminderSent, performance.ReminderSent{
			Year: req.Year, ProjectID: r.ProjectID, School: r.School, Province: r.Province, Offset: req.Offset, Deadline: req.Deadline})
		if err != nil {
			return AppendResult{}, err
		}
		specs = append(specs, spec)
	}
	return a.appendSome(ctx, req.CollectionStep, specs)
}

// MarkLateRequest marks Projects late.
type MarkLateRequest struct {
	CollectionStep
	Year     int      `json:"year"`
	Projects []string `json:"projects"`
}

// MarkPerformanceLate records one ReportMarkedLate per project in one append.
func (a *Activities) MarkPerformanceLate(ctx context.Context, req MarkLateRequest) (AppendResult, error) {
	specs := make([]EventSpec, 0, len(req.Projects))
	for _, p := range req.Projects {
		spec, err := req.spec(LateStep(p), performance.TypeReportMarkedLate, performance.ReportMarkedLate{Year: req.Year, ProjectID: p})
		if err != nil {
			return AppendResult{}, err
		}
		specs = append(specs, spec)
	}
	return a.appendSome(ctx, req.CollectionStep, specs)
}

func (a *Activities) appendSome(ctx context.Context, s CollectionStep, specs []EventSpec) (AppendResult, error) {
	if len(specs) == 0 {
		return AppendResult{Versions: []int64{s.Expected}}, nil
	}
	if slices.ContainsFunc(specs, func(e EventSpec) bool { return e.ID == "" }) {
		return AppendResult{}, temporal.NewNonRetryableApplicationError("event without id", "BadAppend", nil)
	}
	return a.Append(ctx, AppendRequest{Stream: s.Stream, Expected: s.Expected, Events: specs})
}

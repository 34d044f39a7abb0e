package projections

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/intent"
	"keytask/domain/performance"
)

// PerformanceCollectionRow is a year's collection.
type PerformanceCollectionRow struct {
	Year        int                           `json:"year"`
	WorkflowID  string                        `json:"workflow_id"`
	Deadline    time.Time                     `json:"deadline"`
	Projects    int                           `json:"projects"`
	Stage       string                        `json:"stage"`
	Reminders   int                           `json:"reminders"`
	Escalations map[string][]string           `json:"escalations"`
	Summary     *performance.CollectionClosed `json:"summary,omitempty"`
	OpenedAt    time.Time                     `json:"opened_at"`
	ClosedAt    *time.Time                    `json:"closed_at,omitempty"`
}

// errPerformanceNotFound is what single-row queries return when they find nothing.
var errPerformanceNotFound = errors.New("not found")

// IsPerformanceNotFound reports whether a performance query found nothing.
func IsPerformanceNotFound(err error) bool { return errors.Is(err, errPerformanceNotFound) }

// PerformanceCollection reads one year's collection.
func PerformanceCollection(ctx context.Context, q Querier, year int) (PerformanceCollectionRow, error) {
	rows, err := q.Query(ctx, `SELECT year, workflow_id, deadline, projects, stage, reminders, escalations, summary, opened_at, closed_at
		FROM performance_collections WHERE year = $1`, year)
	if err != nil {
		return PerformanceCollectionRow{}, err
	}
	r, err := pgx.CollectOneRow(rows, func(row pgx.CollectableRow) (PerformanceCollectionRow, error) {
		var c PerformanceCollectionRow
		var esc, summary []byte
		if err := row.Scan(&c.Year, &c.WorkflowID, &c.Deadline, &c.Projects, &c.Stage, &c.Reminders, &esc, &summary, &c.OpenedAt, &c.ClosedAt); err != nil {
			return c, err
		}
		if err := json.Unmarshal(esc, &c.Escalations); err != nil {
			return c, err
		}
		if summary != nil {
			c.Summary = &performance.CollectionClosed{}
			if err := json.Unmarshal(summary, c.Summary); err != nil {
				return c, err
			}
		}
		return c, nil
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return r, errPerformanceNotFound
	}
	// The log records the deadline's passing only when something was owed
	// (late marks, escalations); a collection everyone answered in time is
	// past its deadline all the same.
	if err == nil && r.Stage == "open" && time.Now().After(r.Deadline) {
		r.Stage = "passed"
	}
	return r, err
}

// PerformanceReportRow is one project's report for a year.
type PerformanceReportRow struct {
	Year           int                 `json:"year"`
	ProjectID      string              `json:"project_id"`
	BatchID        string              `json:"batch_id"`
	TaskItem       string              `json:"task_item"`
	TaskType       string              `json:"task_type"`
	Application    string              `json:"application"`
	School         string              `json:"school"`
	Province       string              `json:"province"`
	Deadline       time.Time           `json:"deadline"`
	Status         performance.Status  `json:"status"`
	StatusLabel    string              `json:"status_label"`
	Late           bool                `json:"late"`
	Submissions    int                 `json:"submissions"`
	Reminders      int                 `json:"reminders"`
	FirstSubmitted *time.Time          `json:"first_submitted,omitempty"`
	LastSubmitted  *time.Time          `json:"last_submitted,omitempty"`
	Draft          *performance.Report `json:"draft,omitempty"`
	Report         *performance.Report `json:"report,omitempty"` // the latest submission
	ReturnReason   string              `json:"return_reason,omitempty"`
	UpdatedAt      time.Time           `json:"updated_at"`
	Version        int64               `json:"version"`
}

// Standing reports whether the report's submission counts in roll-ups:
// submitted or locked; a returned one awaits its resubmission.
func (r PerformanceReportRow) Standing() bool {
	return r.Report != nil && (r.Status == performance.StatusSubmitted || r.Status == performance.StatusLocked)
}

// PerformanceFilter narrows the reports of a year; empty fields match all.
type PerformanceFilter struct {
	Province string
	School   string
	TaskType string
	Project  string
}

// PerformanceReports lists a year's reports by project id.
func PerformanceReports(ctx context.Context, q Querier, year int, f PerformanceFilter) ([]PerformanceReportRow, error) {
	rows, err := q.Query(ctx, `SELECT year, project_id, batch_id, task_item, task_type, application, school, province, deadline, status,
			late, submissions, reminders, first_submitted, last_submitted, draft, report, return_reason, updated_at, version
		FROM performance_reports
		WHERE year = $1 AND ($2 = '' OR province = $2) AND ($3 = '' OR school = $3) AND ($4 = '' OR task_type = $4) AND ($5 = '' OR project_id = $5)
		ORDER BY project_id COLLATE "C"`, year, f.Province, f.School, f.TaskType, f.Project)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PerformanceReportRow, error) {
		var r PerformanceReportRow
		var draft, rep []byte
		var status string
		if err := row.Scan(&r.Year, &r.ProjectID, &r.BatchID, &r.TaskItem, &r.TaskType, &r.Application, &r.School, &r.Province,
			&r.Deadline, &status, &r.Late, &r.Submissions, &r.Reminders, &r.FirstSubmitted, &r.LastSubmitted, &draft, &rep,
			&r.ReturnReason, &r.UpdatedAt, &r.Version); err != nil {
			return r, err
		}
		r.Status = performance.Status(status)
		r.StatusLabel = r.Status.Label()
		for _, x := range []struct {
			b   []byte
			dst **performance.Report
		}{{draft, &r.Draft}, {rep, &r.Report}} {
			if x.b != nil {
				*x.dst = &performance.Report{}
				if err := json.Unmarshal(x.b, *x.dst); err != nil {
					return r, err
				}
			}
		}
		return r, nil
	})
}

// PerformanceHistoryEntry is one event of a report.
type PerformanceHistoryEntry struct {
	Version int64           `json:"version"`
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Payload json.RawMessage `json:"payload"`
}

// PerformanceHistory lists a report's events in order: every submission and
// return is kept.
func PerformanceHistory(ctx context.Context, q Querier, year int, project string) ([]PerformanceHistoryEntry, error) {
	rows, err := q.Query(ctx, `SELECT version, type, at, actor, payload::text FROM performance_report_history
		WHERE year = $1 AND project_id = $2 ORDER BY version`, year, project)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PerformanceHistoryEntry, error) {
		var h PerformanceHistoryEntry
		var payload string
		err := row.Scan(&h.Version, &h.Type, &h.At, &h.Actor, &payload)
		h.Payload = json.RawMessage(payload)
		return h, err
	})
}

// PerformanceRollup is one year, province and task type: how many reports,
// how many stand submitted, and the money and indicators of those.
type PerformanceRollup struct {
	Year         int              `json:"year"`
	Province     string           `json:"province"`
	TaskType     string           `json:"task_type"`
	Reports      int              `json:"reports"`
	Submitted    int              `json:"submitted"`
	Late         int              `json:"late"`
	RatePermille int              `json:"rate_permille"` // submitted per thousand reports, rounded down
	Planned      intent.Funds     `json:"planned"`
	Spent        intent.Funds     `json:"spent"`
	PlannedTotal intent.Yuan      `json:"planned_total"`
	SpentTotal   intent.Yuan      `json:"spent_total"`
	Indicators   map[string]int64 `json:"indicators"`
}

// PerformanceRollups sums a year's reports per province and task type, in
// that order. Sums are exact integers; only standing submissions count.
func PerformanceRollups(ctx context.Context, q Querier, year int, f PerformanceFilter) ([]PerformanceRollup, error) {
	reports, err := PerformanceReports(ctx, q, year, f)
	if err != nil {
		return nil, err
	}
	type key struct{ province, task string }
	by := map[key]*PerformanceRollup{}
	for _, r := range reports {
		k := key{r.Province, r.TaskType}
		g := by[k]
		if g == nil {
			g = &PerformanceRollup{Year: year, Province: r.Province, TaskType: r.TaskType, Indicators: map[string]int64{}}
			by[k] = g
		}
		g.Reports++
		if r.Late {
			g.Late++
		}
		if !r.Standing() {
			continue
		}
		g.Submitted++
		if g.Planned, err = g.Planned.Plus(r.Report.Planned); err != nil {
			return nil, err
		}
		if g.Spent, err = g.Spent.Plus(r.Report.Spent); err != nil {
			return nil, err
		}
		for k, v := range r.Report.Indicators {
			g.Indicators[k] += v
		}
	}
	out := make([]PerformanceRollup, 0, len(by))
	for _, g := range by {
		if g.PlannedTotal, err = g.Planned.Total(); err != nil {
			return nil, err
		}
		if g.SpentTotal, err = g.Spent.Total(); err != nil {
			return nil, err
		}
		g.RatePermille = g.Submitted * 1000 / g.Reports
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b PerformanceRollup) int {
		if a.Province != b.Province {
			return compareStrings(a.Province, b.Province)
		}
		return compareStrings(a.TaskType, b.TaskType)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

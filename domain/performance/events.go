// Package performance holds the yearly performance collection (年度执行绩效采集):
// the events a collection and its reports record, the indicator catalogue and
// the validation of a report. The workflow in package workflows decides when
// things happen; this package decides what is valid.
package performance

import (
	"fmt"
	"time"
)

// CollectionStream holds one year's collection events: opening, deadline
// extensions, reminders, escalations, late marks and the close. Written only
// by that year's collection workflow.
func CollectionStream(year int) string { return fmt.Sprintf("performance-collection-%d", year) }

// ReportStream holds one project's report for one year: opened by the
// collection, then drafted, submitted, returned and locked.
func ReportStream(year int, projectID string) string {
	return fmt.Sprintf("performance-report-%d-%s", year, projectID)
}

// Event types.
const (
	// CollectionStream(year)
	TypeCollectionOpened           = "PerformanceCollectionOpened"
	TypeCollectionDeadlineExtended = "PerformanceCollectionDeadlineExtended"
	TypeReminderSent               = "PerformanceReminderSent" // one per report per offset
	TypeEscalated                  = "PerformanceEscalated"    // one per province after the deadline
	TypeReportMarkedLate           = "PerformanceReportMarkedLate"
	TypeCollectionClosed           = "PerformanceCollectionClosed"
	// ReportStream(year, project)
	TypeReportOpened     = "PerformanceReportOpened"
	TypeReportDraftSaved = "PerformanceReportDraftSaved"
	TypeReportSubmitted  = "PerformanceReportSubmitted"
	TypeReportReturned   = "PerformanceReportReturned"
	TypeReportLocked     = "PerformanceReportLocked"
)

// CollectionOpened: the year's collection started with its deadline and
// reminder offsets, for Projects active projects.
type CollectionOpened struct {
	Year            int             `json:"year"`
	Deadline        time.Time       `json:"deadline"`
	ReminderOffsets []time.Duration `json:"reminder_offsets"`
	Projects        int             `json:"projects"`
}

// CollectionDeadlineExtended: the ministry moved the year's deadline from
// From to To while the collection was open. Every report's deadline moves with
// it. Schools lists, sorted, the schools that still owed a report when the
// deadline moved: who is told of it.
type CollectionDeadlineExtended struct {
	Year    int       `json:"year"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Reason  string    `json:"reason,omitempty"`
	Schools []string  `json:"schools"`
}

// ReportOpened: a project's report for the year is open for drafting. The
// school and province are who reports and who is escalated to.
type ReportOpened struct {
	Year        int       `json:"year"`
	ProjectID   string    `json:"project_id"`
	BatchID     string    `json:"batch_id"`
	TaskItem    string    `json:"task_item"`
	TaskType    string    `json:"task_type"`
	Application string    `json:"application"`
	School      string    `json:"school"`
	Province    string    `json:"province"`
	Deadline    time.Time `json:"deadline"`
}

// ReminderSent: a reminder to a project's school that its report for Year is
// not submitted, Offset before the deadline. The notification service turns
// it into inbox entries and mail for the school's users.
type ReminderSent struct {
	Year      int           `json:"year"`
	ProjectID string        `json:"project_id"`
	School    string        `json:"school"`
	Province  string        `json:"province"`
	Offset    time.Duration `json:"offset"`
	Deadline  time.Time     `json:"deadline"`
}

// Escalated: after the deadline, a province's liaison is told which of its
// projects have not submitted.
type Escalated struct {
	Year     int       `json:"year"`
	Province string    `json:"province"`
	Projects []string  `json:"projects"`
	Deadline time.Time `json:"deadline"`
}

// ReportMarkedLate: a report submitted after the deadline, or still missing
// when the deadline passed.
type ReportMarkedLate struct {
	Year      int    `json:"year"`
	ProjectID string `json:"project_id"`
}

// CollectionClosed: the year's collection ended with its summary.
type CollectionClosed struct {
	Year      int `json:"year"`
	Projects  int `json:"projects"`
	Submitted int `json:"submitted"`
	Late      int `json:"late"`
	Missing   int `json:"missing"`
}

// ReportDraftSaved: the school saved its report without submitting. The
// latest draft replaces earlier ones.
type ReportDraftSaved struct {
	Year      int       `json:"year"`
	ProjectID string    `json:"project_id"`
	Report    Report    `json:"report"`
	At        time.Time `json:"at"`
}

// ReportSubmitted: the school submitted its report. Submission counts the
// report's submissions (1 for the first, 2 after a return, …), so every
// version stays in the stream; Late is set when the report had no submission
// by the deadline.
type ReportSubmitted struct {
	Year       int       `json:"year"`
	ProjectID  string    `json:"project_id"`
	Report     Report    `json:"report"`
	At         time.Time `json:"at"`
	Submission int       `json:"submission"`
	Late       bool      `json:"late,omitempty"`
}

// ReportReturned: the ministry returned a submitted report with a reason; the
// school may edit and submit again.
type ReportReturned struct {
	Year       int    `json:"year"`
	ProjectID  string `json:"project_id"`
	Submission int    `json:"submission"` // the submission returned
	Reason     string `json:"reason"`
}

// ReportLocked: the ministry accepted a submitted report as final; nothing
// more is written to it.
type ReportLocked struct {
	Year       int    `json:"year"`
	ProjectID  string `json:"project_id"`
	Submission int    `json:"submission"` // the submission locked
}

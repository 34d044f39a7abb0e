package workflows

import (
	"strconv"
	"time"

	"keytask/domain/performance"
	"keytask/events"
)

// The yearly performance collection (年度执行绩效采集): one workflow per year,
// started by a Temporal Schedule (see collection_schedule.go) or by hand. It
// opens a report for every active project, reminds schools that have not
// submitted at each offset before the deadline, at the deadline marks every
// report never submitted late and escalates per province, and closes with a
// summary CloseAfter later. Schools and the ministry act on reports through
// Workflow Updates, with the conventions of the intent round (see
// intent_contract.go "Refusals"):
//
//	SaveReportDraft(ReportCommand)                     → ReportResult   school of the project
//	SubmitReport(ReportCommand)                        → ReportResult   school of the project
//	ReturnReport(ReportReturnCommand)                  → no result      ministry
//	LockReport(ReportLockCommand)                      → no result      ministry
//	ExtendCollectionDeadline(ExtendCollectionCommand)  → no result      ministry
//
// Extension. While the deadline has not come, the ministry may move it later
// (see performance.Collection.Extend); the close moves by as much, so it stays
// CloseAfter after the deadline. Reminders already sent stay sent; the others
// follow the new deadline, and the deadline passes at the new time. The
// extension holds off every report command while it runs.
//
// Field names of refusals: "project_id", "reason", "deadline", and for reports
// the paths inside ReportCommand.Input ("spent.school", "indicators.students_enrolled",
// "summary", "deviation").
//
// The year. The collection is for an instant: Params.OpensAt when set,
// otherwise the TemporalScheduledStartTime search attribute a schedule sets
// (so a backfill of 2022 collects 2022), and failing that the workflow's own
// start time. The year is that instant's in Asia/Shanghai. The deadline is DeadlineAfter from that instant, so a
// backfilled year whose deadline is past opens, marks every report late,
// escalates and closes at once.
//
// One collection per year. Whatever started it, the first event of
// performance.CollectionStream(year) is appended at version 0; a second
// workflow for a year already opened finds the stream taken and completes with
// Skipped set, writing nothing.
//
// Streams. The workflow is the only writer of:
//
//	performance.CollectionStream(year)      CollectionOpened, CollectionDeadlineExtended, ReminderSent, Escalated,
//	                                        ReportMarkedLate, CollectionClosed
//	performance.ReportStream(year, project) ReportOpened, ReportDraftSaved, ReportSubmitted, ReportReturned, ReportLocked
//
// Event ids derive from the workflow id and a step ("remind/336h0m0s/<project>",
// "late/<project>", "escalate/<province>", "extend/<n>" for the n-th extension),
// so retries and replays append each once: one reminder per report per offset.
const (
	PerformanceCollectionWorkflowName = "PerformanceCollection"

	UpdateSaveReportDraft       = "SaveReportDraft"
	UpdateSubmitReport          = "SubmitReport"
	UpdateReturnReport          = "ReturnReport"
	UpdateLockReport            = "LockReport"
	UpdateExtendCollection      = "ExtendCollectionDeadline"
	QueryPerformanceCollection  = "PerformanceCollectionStatus"
	PerformanceScheduleID       = "performance-collection"
	performanceScheduledStartSA = "TemporalScheduledStartTime"
)

// PerformanceCollectionWorkflowID is the id of a collection started by hand;
// the schedule's runs are named by the schedule.
func PerformanceCollectionWorkflowID(year int) string {
	return "performance-collection-" + strconv.Itoa(year)
}

// Defaults of PerformanceCollectionParams.
var (
	DefaultCollectionDeadlineAfter = 30 * 24 * time.Hour // 1 December 09:00 → 31 December 09:00
	DefaultCollectionCloseAfter    = 30 * 24 * time.Hour
	DefaultCollectionReminders     = []time.Duration{14 * 24 * time.Hour, 7 * 24 * time.Hour, 3 * 24 * time.Hour, 24 * time.Hour}
)

// PerformanceCollectionParams start a year's collection; zero values take the
// defaults above.
type PerformanceCollectionParams struct {
	// OpensAt, when set, is the instant the collection is for (a start by
	// hand); otherwise the schedule's nominal time, or the start time.
	OpensAt         time.Time       `json:"opens_at,omitzero"`
	DeadlineAfter   time.Duration   `json:"deadline_after,omitempty"`
	ReminderOffsets []time.Duration `json:"reminder_offsets,omitempty"` // before the deadline
	CloseAfter      time.Duration   `json:"close_after,omitempty"`      // after the deadline
	Actor           events.Metadata `json:"actor"`
	// Carry is set only by the collection itself when it continues as new.
	Carry *PerformanceCollectionCarry `json:"carry,omitempty"`
}

// ReportCommand saves or submits a project's report. Actor must be the
// project's school.
type ReportCommand struct {
	ProjectID string                  `json:"project_id"`
	Input     performance.ReportInput `json:"input"`
	Actor     events.Metadata         `json:"actor"`
}

// ReportReturnCommand returns a submitted report with a reason.
type ReportReturnCommand struct {
	ProjectID string          `json:"project_id"`
	Reason    string          `json:"reason"`
	Actor     events.Metadata `json:"actor"`
}

// ReportLockCommand makes a submitted report final.
type ReportLockCommand struct {
	ProjectID string          `json:"project_id"`
	Actor     events.Metadata `json:"actor"`
}

// ExtendCollectionCommand moves the year's deadline to Deadline. Actor must be
// the ministry; Reason is optional.
type ExtendCollectionCommand struct {
	Deadline time.Time       `json:"deadline"`
	Reason   string          `json:"reason,omitempty"`
	Actor    events.Metadata `json:"actor"`
}

// ReportResult is the report as the server computed it.
type ReportResult struct {
	Report  performance.Report `json:"report"`
	Version int64              `json:"version"` // of the report stream after the append
	Late    bool               `json:"late,omitempty"`
}

// PerformanceCollectionResult is what a finished collection returns.
type PerformanceCollectionResult struct {
	Year    int                          `json:"year"`
	Skipped bool                         `json:"skipped,omitempty"` // the year was already collected by another run
	Summary performance.CollectionClosed `json:"summary"`
}

// PerformanceCollectionStatus is the collection as its workflow sees it.
type PerformanceCollectionStatus struct {
	Year     int                                `json:"year"`
	Stage    string                             `json:"stage"` // open, passed, closed
	Deadline time.Time                          `json:"deadline"`
	CloseAt  time.Time                          `json:"close_at"`
	Reports  map[string]performance.ReportState `json:"reports"`
}

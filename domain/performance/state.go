package performance

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
)

// Status of one report.
type Status string

const (
	StatusOpen      Status = "open"      // opened, nothing saved yet
	StatusDraft     Status = "draft"     // saved, not submitted
	StatusSubmitted Status = "submitted" // awaiting the ministry
	StatusReturned  Status = "returned"  // sent back to the school with a reason
	StatusLocked    Status = "locked"    // final
)

// Label is the status for users.
func (s Status) Label() string {
	switch s {
	case StatusOpen:
		return "未填报"
	case StatusDraft:
		return "草稿"
	case StatusSubmitted:
		return "已提交"
	case StatusReturned:
		return "已退回"
	case StatusLocked:
		return "已锁定"
	}
	return string(s)
}

// Pending reports whether the school still owes a submission.
func (s Status) Pending() bool { return s == StatusOpen || s == StatusDraft || s == StatusReturned }

// ReportState is what the collection knows of one report: enough to decide
// commands and reminders, not its content (that is in the stream).
type ReportState struct {
	ProjectID   string    `json:"project_id"`
	TaskType    string    `json:"task_type"`
	School      string    `json:"school"`
	Province    string    `json:"province"`
	Status      Status    `json:"status"`
	Submissions int       `json:"submissions"`
	FirstSubmit time.Time `json:"first_submit,omitzero"`
	Late        bool      `json:"late,omitempty"` // marked late (ReportMarkedLate recorded)
}

// Collection is one year's collection as its workflow sees it.
type Collection struct {
	Year     int       `json:"year"`
	Deadline time.Time `json:"deadline"`
	// Opened is the deadline the collection opened with, which bounds the
	// extensions of a year collected late (see LatestExtension); zero in
	// state carried from before it was kept, which then uses Deadline.
	Opened  time.Time               `json:"opened_deadline,omitzero"`
	Reports map[string]*ReportState `json:"reports"`
	Passed  bool                    `json:"passed"` // the deadline passed and was acted on
	Closed  bool                    `json:"closed"`
}

// Actor is who sends a command: role and organisation (school id, province
// code or the ministry).
type Actor struct {
	Role         identity.Role
	Organisation string
}

// NewCollection starts a collection of the given reports.
func NewCollection(year int, deadline time.Time, opened []ReportOpened) *Collection {
	c := &Collection{Year: year, Deadline: deadline, Opened: deadline, Reports: make(map[string]*ReportState, len(opened))}
	for _, o := range opened {
		c.Reports[o.ProjectID] = &ReportState{ProjectID: o.ProjectID, TaskType: o.TaskType, School: o.School,
			Province: o.Province, Status: StatusOpen}
	}
	return c
}

func (c *Collection) report(projectID string) (*ReportState, error) {
	r, ok := c.Reports[projectID]
	if !ok {
		return nil, domain.Invalid("project_id", fmt.Sprintf("%d年度绩效采集中没有项目“%s”的报告", c.Year, clip(projectID)),
			fmt.Sprintf("no report for project %q in %d", clip(projectID), c.Year))
	}
	return r, nil
}

func (c *Collection) open() error {
	if c.Closed {
		return domain.Conflict("", fmt.Sprintf("%d年度绩效采集已结束，不再受理", c.Year), "collection closed")
	}
	return nil
}

// schoolReport checks that a school may write the report now.
func (c *Collection) schoolReport(projectID string, by Actor) (*ReportState, error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	r, err := c.report(projectID)
	if err != nil {
		return nil, err
	}
	if by.Role != identity.RoleSchool || by.Organisation != r.School {
		return nil, domain.Conflict("project_id", "只有承担该项目的学校可以填报其绩效报告",
			fmt.Sprintf("%s %q may not write the report of project %s (school %s)", by.Role, by.Organisation, r.ProjectID, r.School))
	}
	if !r.Status.Pending() {
		return nil, domain.Conflict("project_id", fmt.Sprintf("绩效报告%s，不能修改", r.Status.Label()),
			fmt.Sprintf("report of %s is %s", r.ProjectID, r.Status))
	}
	return r, nil
}

// SaveDraft checks a draft: its form, not its completeness.
func (c *Collection) SaveDraft(projectID string, by Actor, in ReportInput, now time.Time) (ReportDraftSaved, error) {
	r, err := c.schoolReport(projectID, by)
	if err != nil {
		return ReportDraftSaved{}, err
	}
	rep, err := Validate(Indicators, r.TaskType, in, false)
	if err != nil {
		return ReportDraftSaved{}, err
	}
	return ReportDraftSaved{Year: c.Year, ProjectID: r.ProjectID, Report: rep, At: now}, nil
}

// Submit checks a complete report. A report with no submission by the
// deadline is late, whenever it comes.
func (c *Collection) Submit(projectID string, by Actor, in ReportInput, now time.Time) (ReportSubmitted, error) {
	r, err := c.schoolReport(projectID, by)
	if err != nil {
		return ReportSubmitted{}, err
	}
	rep, err := Validate(Indicators, r.TaskType, in, true)
	if err != nil {
		return ReportSubmitted{}, err
	}
	late := r.Late || (r.Submissions == 0 && now.After(c.Deadline))
	return ReportSubmitted{Year: c.Year, ProjectID: r.ProjectID, Report: rep, At: now, Submission: r.Submissions + 1, Late: late}, nil
}

// ministryReport checks that the ministry may decide on a submitted report.
func (c *Collection) ministryReport(projectID string, by Actor) (*ReportState, error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	r, err := c.report(projectID)
	if err != nil {
		return nil, err
	}
	if by.Role != identity.RoleMinistry {
		return nil, domain.Conflict("project_id", "只有部里可以退回或锁定绩效报告",
			fmt.Sprintf("%s %q may not return or lock reports", by.Role, by.Organisation))
	}
	if r.Status != StatusSubmitted {
		return nil, domain.Conflict("project_id", fmt.Sprintf("只能退回或锁定已提交的绩效报告，该报告%s", r.Status.Label()),
			fmt.Sprintf("report of %s is %s, not submitted", r.ProjectID, r.Status))
	}
	return r, nil
}

// Return sends a submitted report back with a reason.
func (c *Collection) Return(projectID string, by Actor, reason string) (ReportReturned, error) {
	r, err := c.ministryReport(projectID, by)
	if err != nil {
		return ReportReturned{}, err
	}
	reason = strings.TrimSpace(reason)
	switch n := utf8.RuneCountInString(reason); {
	case n == 0:
		return ReportReturned{}, domain.Invalid("reason", "请填写退回理由", "reason missing")
	case n > MaxReasonRunes:
		return ReportReturned{}, domain.Invalid("reason", fmt.Sprintf("退回理由不能超过 %d 字（现为 %d 字）", MaxReasonRunes, n),
			fmt.Sprintf("reason has %d runes, above %d", n, MaxReasonRunes))
	}
	if err := storable("reason", "退回理由", reason); err != nil {
		return ReportReturned{}, err
	}
	return ReportReturned{Year: c.Year, ProjectID: r.ProjectID, Submission: r.Submissions, Reason: reason}, nil
}

// Lock makes a submitted report final.
func (c *Collection) Lock(projectID string, by Actor) (ReportLocked, error) {
	r, err := c.ministryReport(projectID, by)
	if err != nil {
		return ReportLocked{}, err
	}
	return ReportLocked{Year: c.Year, ProjectID: r.ProjectID, Submission: r.Submissions}, nil
}

// shanghai is Asia/Shanghai (UTC+8 without daylight saving since 1991), in
// which deadlines are said.
var shanghai = time.FixedZone("CST", 8*3600)

func formatTime(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }

// LatestDeadline is the latest a year's deadline may be extended to: 1
// December of the next year, 00:00 in Asia/Shanghai, when the next year's
// collection opens by default. A year's reports are owed before the next
// year's are asked for.
func LatestDeadline(year int) time.Time {
	return time.Date(year+1, time.December, 1, 0, 0, 0, 0, shanghai)
}

// LatestExtension is the latest c's deadline may be extended to, and why:
// LatestDeadline, unless the collection opened with a deadline already at or
// past it (a year backfilled after the fact), whose schools then get at most
// six months beyond the deadline it opened with.
func (c *Collection) LatestExtension() (time.Time, string) {
	latest := LatestDeadline(c.Year)
	opened := c.Opened
	if opened.IsZero() {
		opened = c.Deadline
	}
	if !opened.Before(latest) {
		return opened.AddDate(0, 6, 0), "开启时截止时间后六个月"
	}
	return latest, "下一年度绩效采集开始"
}

// Extend decides on the ministry moving the deadline to a later time. Only an
// open collection whose deadline has not come yet may be extended: once the
// deadline has come, reports were marked late and provinces told. Reminders
// not yet sent follow the new deadline; a submission before it is on time.
func (c *Collection) Extend(deadline time.Time, reason string, by Actor, now time.Time) (CollectionDeadlineExtended, error) {
	if err := c.open(); err != nil {
		return CollectionDeadlineExtended{}, err
	}
	if by.Role != identity.RoleMinistry {
		return CollectionDeadlineExtended{}, domain.Conflict("", "只有部里可以延长绩效采集截止时间",
			fmt.Sprintf("%s %q may not extend the deadline", by.Role, by.Organisation))
	}
	reason = strings.TrimSpace(reason)
	latest, why := c.LatestExtension()
	switch n := utf8.RuneCountInString(reason); {
	case c.Passed || !now.Before(c.Deadline):
		return CollectionDeadlineExtended{}, domain.Conflict("deadline",
			fmt.Sprintf("%d年度绩效采集截止时间（%s）已过，不能再延期", c.Year, formatTime(c.Deadline)),
			fmt.Sprintf("extension refused: deadline %s has passed at %s", c.Deadline, now))
	case deadline.IsZero():
		return CollectionDeadlineExtended{}, domain.Invalid("deadline", "请填写延期截止时间", "extension without a deadline")
	case !deadline.After(c.Deadline):
		return CollectionDeadlineExtended{}, domain.Invalid("deadline",
			fmt.Sprintf("新的截止时间须晚于现截止时间（%s）", formatTime(c.Deadline)),
			fmt.Sprintf("extension %s is not after the deadline %s", deadline, c.Deadline))
	case deadline.After(latest):
		return CollectionDeadlineExtended{}, domain.Invalid("deadline",
			fmt.Sprintf("新的截止时间不能晚于%s（%s）", formatTime(latest), why),
			fmt.Sprintf("extension %s is after %s", deadline, latest))
	case n > MaxReasonRunes:
		return CollectionDeadlineExtended{}, domain.Invalid("reason", fmt.Sprintf("延期说明不能超过 %d 字（现为 %d 字）", MaxReasonRunes, n),
			fmt.Sprintf("reason has %d runes, above %d", n, MaxReasonRunes))
	}
	if err := storable("reason", "延期说明", reason); err != nil {
		return CollectionDeadlineExtended{}, err
	}
	schools := []string{}
	for _, r := range c.Unsubmitted() {
		schools = append(schools, r.School)
	}
	slices.Sort(schools)
	return CollectionDeadlineExtended{Year: c.Year, From: c.Deadline, To: deadline, Reason: reason, Schools: slices.Compact(schools)}, nil
}

// Apply moves the state by a recorded event.
func (c *Collection) Apply(e any) error {
	switch e := e.(type) {
	case ReportDraftSaved:
		r, err := c.report(e.ProjectID)
		if err != nil {
			return err
		}
		r.Status = StatusDraft
	case ReportSubmitted:
		r, err := c.report(e.ProjectID)
		if err != nil {
			return err
		}
		r.Status = StatusSubmitted
		r.Submissions = e.Submission
		if r.FirstSubmit.IsZero() {
			r.FirstSubmit = e.At
		}
	case ReportReturned:
		r, err := c.report(e.ProjectID)
		if err != nil {
			return err
		}
		r.Status = StatusReturned
	case ReportLocked:
		r, err := c.report(e.ProjectID)
		if err != nil {
			return err
		}
		r.Status = StatusLocked
	case ReportMarkedLate:
		r, err := c.report(e.ProjectID)
		if err != nil {
			return err
		}
		r.Late = true
	case CollectionDeadlineExtended:
		c.Deadline = e.To
	case CollectionClosed:
		c.Closed = true
	default:
		return fmt.Errorf("performance: cannot apply %T", e)
	}
	return nil
}

// Unsubmitted lists the reports whose school still owes a submission, by
// project id: who is reminded.
func (c *Collection) Unsubmitted() []*ReportState {
	var out []*ReportState
	for _, id := range c.ids() {
		if r := c.Reports[id]; r.Status.Pending() {
			out = append(out, r)
		}
	}
	return out
}

// Missing lists the reports never submitted, by project id: what is marked
// late at the deadline. A report submitted in time and then returned is not
// missing: the school answered in time.
func (c *Collection) Missing() []*ReportState {
	var out []*ReportState
	for _, id := range c.ids() {
		if r := c.Reports[id]; r.Submissions == 0 {
			out = append(out, r)
		}
	}
	return out
}

// Escalations groups the reports still owed after the deadline by province:
// one Escalated per province with any.
func (c *Collection) Escalations() []Escalated {
	by := map[string][]string{}
	for _, r := range c.Unsubmitted() {
		by[r.Province] = append(by[r.Province], r.ProjectID)
	}
	out := make([]Escalated, 0, len(by))
	for _, p := range slices.Sorted(mapKeys(by)) {
		out = append(out, Escalated{Year: c.Year, Province: p, Projects: by[p], Deadline: c.Deadline})
	}
	return out
}

// Summary is the collection's close.
func (c *Collection) Summary() CollectionClosed {
	s := CollectionClosed{Year: c.Year, Projects: len(c.Reports)}
	for _, r := range c.Reports {
		if r.Submissions > 0 {
			s.Submitted++
		} else {
			s.Missing++
		}
		if r.Late {
			s.Late++
		}
	}
	return s
}

func (c *Collection) ids() []string { return slices.Sorted(mapKeys(c.Reports)) }

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

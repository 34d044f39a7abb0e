// Package development holds the development tasks of the plan (开发类任务):
// items 4 and 5 of the 2022 first batch, 教学标准 and 规划教材. The ministry
// assigns a development project (the standard's or textbook's title, the
// undertaking province, the lead unit and participating units from the school
// register) and records its milestones: 编写 (drafted), 审定 (approved),
// 出版/发布 (published). Each project is one stream,
// ProjectStream(id); it reports performance every year like a selected
// project until it is published.
package development

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
)

// ProjectStream is the stream of development project id.
func ProjectStream(id string) string { return "development-" + id }

// Event types on ProjectStream.
const (
	TypeProjectAssigned   = "DevelopmentProjectAssigned"
	TypeMilestoneRecorded = "DevelopmentMilestoneRecorded"
)

// Task types of the development items, as the plan's catalogue codes them.
const (
	TaskStandard = "JXBZ" // 4 开发《技工院校XX专业教学标准》
	TaskTextbook = "GHJC" // 5 开发全国技工教育规划教材
)

// TaskLabel names a development task type for users ("" if unknown).
func TaskLabel(taskType string) string {
	switch taskType {
	case TaskStandard:
		return "教学标准"
	case TaskTextbook:
		return "规划教材"
	}
	return ""
}

// Milestone of a development project, in the order they happen.
type Milestone string

// Milestones.
const (
	MilestoneDrafted   Milestone = "drafted"   // 编写完成
	MilestoneApproved  Milestone = "approved"  // 审定通过
	MilestonePublished Milestone = "published" // 出版（教材）或发布（标准）
)

// Milestones in their order.
var Milestones = []Milestone{MilestoneDrafted, MilestoneApproved, MilestonePublished}

// Label is the milestone for users; a standard is published as 发布, a
// textbook as 出版.
func (m Milestone) Label(taskType string) string {
	switch m {
	case MilestoneDrafted:
		return "编写"
	case MilestoneApproved:
		return "审定"
	case MilestonePublished:
		if taskType == TaskStandard {
			return "发布"
		}
		return "出版"
	}
	return ""
}

func (m Milestone) index() int { return slices.Index(Milestones, m) }

// ProjectAssigned: the ministry assigns a development project.
type ProjectAssigned struct {
	ProjectID    string   `json:"project_id"`
	PlanBatchID  string   `json:"plan_batch_id"`
	TaskItem     string   `json:"task_item"` // "4" or "5"
	TaskType     string   `json:"task_type"` // TaskStandard or TaskTextbook
	Title        string   `json:"title"`     // the standard's or textbook's title
	Province     string   `json:"province"`  // the undertaking province
	LeadUnit     string   `json:"lead_unit"` // school code from the register
	Participants []string `json:"participants,omitempty"`
	// Names of the units as the register had them when assigned, so pages
	// and exports show names without another lookup (rule 13).
	LeadUnitName     string   `json:"lead_unit_name"`
	ParticipantNames []string `json:"participant_names,omitempty"`
}

// MilestoneRecorded: a milestone was reached on Date.
type MilestoneRecorded struct {
	ProjectID string    `json:"project_id"`
	Milestone Milestone `json:"milestone"`
	Date      time.Time `json:"date"`
	Note      string    `json:"note,omitempty"`
	// Reference is the 审定 document or the ISBN / standard number, when
	// there is one.
	Reference string `json:"reference,omitempty"`
}

// Unit is a school of the register as the assignment needs it.
type Unit struct {
	Code     string
	Name     string
	Province string
}

// Project is a development project folded from its stream.
type Project struct {
	ProjectAssigned
	Reached []MilestoneRecorded
	Version int64
}

// Exists reports whether the project was assigned.
func (p Project) Exists() bool { return p.ProjectID != "" }

// Published reports whether the last milestone was reached: the project's
// work is done and it reports no further performance.
func (p Project) Published() bool {
	return len(p.Reached) > 0 && p.Reached[len(p.Reached)-1].Milestone == MilestonePublished
}

// Next is the milestone due next ("" when published).
func (p Project) Next() Milestone {
	if len(p.Reached) == len(Milestones) {
		return ""
	}
	return Milestones[len(p.Reached)]
}

// Apply folds one event's data.
func (p *Project) Apply(payload any) {
	switch e := payload.(type) {
	case ProjectAssigned:
		p.ProjectAssigned = e
	case MilestoneRecorded:
		p.Reached = append(p.Reached, e)
	}
}

const (
	maxTitle        = 200
	maxNote         = 2000
	maxReference    = 100
	maxParticipants = 50
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Assign decides on the ministry assigning a development project. units holds
// the register's schools named by the command (the caller looks them up); a
// code it lacks is not in the register. existing tells whether the id is
// taken. Errors: *domain.FieldError naming the field (project_id, task_type,
// title, province, lead_unit, participants[2]), *domain.ConflictError.
func Assign(existing bool, cmd ProjectAssigned, units map[string]Unit) (ProjectAssigned, error) {
	cmd.ProjectID = strings.TrimSpace(cmd.ProjectID)
	cmd.Title = strings.TrimSpace(cmd.Title)
	cmd.Province = strings.TrimSpace(cmd.Province)
	cmd.LeadUnit = strings.TrimSpace(cmd.LeadUnit)
	switch {
	case cmd.ProjectID == "":
		return cmd, domain.Invalid("project_id", "请填写项目编号", "project_id is required")
	case !idPattern.MatchString(cmd.ProjectID):
		return cmd, domain.Invalid("project_id", "项目编号只能包含字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位", "project_id is malformed")
	case TaskLabel(cmd.TaskType) == "":
		return cmd, domain.Invalid("task_type", "开发类任务应为 JXBZ（教学标准）或 GHJC（规划教材）", fmt.Sprintf("task_type %q is not a development task", cmd.TaskType))
	case cmd.Title == "":
		return cmd, domain.Invalid("title", "请填写"+TaskLabel(cmd.TaskType)+"名称", "title is required")
	case utf8.RuneCountInString(cmd.Title) > maxTitle:
		return cmd, domain.Invalid("title", fmt.Sprintf("名称不能超过%d个字", maxTitle), "title is too long")
	case identity.Provinces[cmd.Province] == "":
		return cmd, domain.Invalid("province", "请选择承接省份", fmt.Sprintf("unknown province %q", cmd.Province))
	case cmd.LeadUnit == "":
		return cmd, domain.Invalid("lead_unit", "请选择牵头单位", "lead_unit is required")
	case len(cmd.Participants) > maxParticipants:
		return cmd, domain.Invalid("participants", fmt.Sprintf("参与单位不能超过%d个", maxParticipants), "too many participants")
	}
	lead, ok := units[cmd.LeadUnit]
	switch {
	case !ok:
		return cmd, domain.Invalid("lead_unit", "牵头单位不在学校名录中", "lead unit "+cmd.LeadUnit+" is not registered")
	case lead.Province != cmd.Province:
		return cmd, domain.Invalid("lead_unit", fmt.Sprintf("牵头单位%s不属于承接省份%s", lead.Name, identity.Provinces[cmd.Province]),
			"lead unit "+cmd.LeadUnit+" is of province "+lead.Province)
	}
	cmd.LeadUnitName = lead.Name
	participants, names := make([]string, 0, len(cmd.Participants)), make([]string, 0, len(cmd.Participants))
	for i, code := range cmd.Participants {
		code = strings.TrimSpace(code)
		field := fmt.Sprintf("participants[%d]", i)
		u, ok := units[code]
		switch {
		case !ok:
			return cmd, domain.Invalid(field, fmt.Sprintf("第%d个参与单位不在学校名录中", i+1), "participant "+code+" is not registered")
		case code == cmd.LeadUnit || slices.Contains(participants, code):
			return cmd, domain.Invalid(field, fmt.Sprintf("参与单位%s重复", u.Name), "participant "+code+" is repeated")
		}
		participants, names = append(participants, code), append(names, u.Name)
	}
	cmd.Participants, cmd.ParticipantNames = nil, nil
	if len(participants) > 0 {
		cmd.Participants, cmd.ParticipantNames = participants, names
	}
	if existing {
		return cmd, domain.Conflict("project_id", "该项目编号已存在", "development project "+cmd.ProjectID+" exists")
	}
	return cmd, nil
}

// RecordMilestone decides on recording milestone m reached on date (not in
// the future): milestones come in their order, each once.
func RecordMilestone(p Project, m Milestone, date time.Time, note, reference string, now time.Time) (MilestoneRecorded, error) {
	var e MilestoneRecorded
	if !p.Exists() {
		return e, domain.Conflict("project", "开发项目不存在", "no DevelopmentProjectAssigned")
	}
	note, reference = strings.TrimSpace(note), strings.TrimSpace(reference)
	switch {
	case m.index() < 0:
		return e, domain.Invalid("milestone", "里程碑应为 drafted（编写）、approved（审定）、published（出版/发布）之一", fmt.Sprintf("unknown milestone %q", m))
	case p.Published():
		return e, domain.Conflict("milestone", "该项目已"+MilestonePublished.Label(p.TaskType)+"，不再记录里程碑", "project is published")
	case m != p.Next():
		return e, domain.Invalid("milestone", fmt.Sprintf("下一个里程碑应为“%s”，不能记录“%s”", p.Next().Label(p.TaskType), m.Label(p.TaskType)),
			fmt.Sprintf("milestone %s out of order, next is %s", m, p.Next()))
	case date.IsZero():
		return e, domain.Invalid("date", "请填写日期", "date is required")
	case date.After(now):
		return e, domain.Invalid("date", "日期不能晚于当前时间", "date is in the future")
	case len(p.Reached) > 0 && date.Before(p.Reached[len(p.Reached)-1].Date):
		return e, domain.Invalid("date", "日期不能早于上一个里程碑", "date before the previous milestone")
	case utf8.RuneCountInString(note) > maxNote:
		return e, domain.Invalid("note", fmt.Sprintf("说明不能超过%d个字", maxNote), "note is too long")
	case utf8.RuneCountInString(reference) > maxReference:
		return e, domain.Invalid("reference", fmt.Sprintf("文号或书号不能超过%d个字", maxReference), "reference is too long")
	}
	return MilestoneRecorded{ProjectID: p.ProjectID, Milestone: m, Date: date, Note: note, Reference: reference}, nil
}

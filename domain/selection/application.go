package selection

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/register"
)

// ApplicationStatus is where an application stands for its applicant.
type ApplicationStatus string

const (
	StatusDraft     ApplicationStatus = "draft"     // 草稿: being filled in
	StatusSubmitted ApplicationStatus = "submitted" // 已提交: no longer editable
	StatusReturned  ApplicationStatus = "returned"  // 退回修改: qualification review wants a correction
)

// Limits of an application.
const (
	MaxTitleRunes          = 100
	MaxAttachments         = 30
	MaxAttachmentBytes     = 200 << 20 // all of an application's files together
	maxAttachmentNameRunes = 200
	maxReturnReasonRunes   = 500
)

// Applicant is who filed an application and owns it: a school for itself, or a
// province on behalf of schools.
type Applicant struct {
	Role         identity.Role `json:"role"`
	Organisation string        `json:"organisation"` // the school id or the province code
}

// Application is the state of one application's stream.
type Application struct {
	ID          string
	BatchID     string
	TaskItem    string
	TaskType    string
	Title       string
	School      string // the applicant school, or the lead school when a province files
	Province    string
	Alliances   []string
	Applicant   Applicant
	Fields      Fields
	Attachments []ApplicationAttachmentAdded
	Status      ApplicationStatus
	// SubmittedAt is the first submission, which ranking ties are broken on.
	SubmittedAt  time.Time
	ReturnReason string
	ReturnUntil  time.Time
	Version      int64 // events folded
}

// Exists reports whether the application was created.
func (a Application) Exists() bool { return a.ID != "" }

// Editable reports whether the applicant may change the application at now.
func (a Application) Editable(now time.Time) bool {
	switch a.Status {
	case StatusDraft:
		return true
	case StatusReturned:
		return a.ReturnUntil.IsZero() || now.Before(a.ReturnUntil)
	}
	return false
}

// Schema is the application's form.
func (a Application) Schema() Schema { return Schemas[a.TaskType] }

// Apply folds one decoded payload of the application's stream into a.
func (a *Application) Apply(payload any) error {
	a.Version++
	switch p := payload.(type) {
	case ApplicationCreated:
		a.ID, a.BatchID, a.TaskItem, a.TaskType = p.ApplicationID, p.BatchID, p.TaskItem, p.TaskType
		a.Title, a.School, a.Province, a.Alliances = p.Title, p.School, p.Province, p.Alliances
		a.Applicant = Applicant{Role: identity.RoleSchool, Organisation: p.School}
		a.Fields, a.Status = Fields{}, StatusDraft
	case ApplicationFiledByProvince:
		a.Applicant = Applicant{Role: identity.RoleProvince, Organisation: p.Province}
	case ApplicationEdited:
		fs, err := a.Schema().DecodeContent(p.Content)
		if err != nil {
			return fmt.Errorf("application %s: %w", a.ID, err)
		}
		a.Title, a.Fields = p.Title, fs
	case ApplicationAttachmentAdded:
		a.Attachments = append(a.Attachments, p)
	case ApplicationSubmitted:
		if a.SubmittedAt.IsZero() {
			a.SubmittedAt = p.At
		}
		a.Status, a.ReturnReason, a.ReturnUntil = StatusSubmitted, "", time.Time{}
	case ApplicationReturned:
		a.Status, a.ReturnReason, a.ReturnUntil = StatusReturned, p.Reason, p.Until
	}
	return nil
}

// Decided is one event a decision produced, with its type.
type Decided struct {
	Type    string
	Payload any
}

// CreateApplication is a request to start an application.
type CreateApplication struct {
	ApplicationID string
	By            identity.Principal
	Batch         SelectionBatchOpened // the batch applied to
	Title         string
	School        string // required when a province files: the lead school
	Province      string // a school filing: its province, when the register does not know the school
	Fields        map[string]json.RawMessage
	// Registered is the applicant (or lead) school as the school register
	// holds it, nil when the register does not know it. A registered
	// school's province is the register's, never the request's.
	Registered *register.School
}

var applicationIDForm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateApplicationID returns a *domain.FieldError unless id may name an
// application (and its stream).
func ValidateApplicationID(id string) error {
	if !applicationIDForm.MatchString(id) {
		return domain.Invalid("application_id", "申报编号无效", fmt.Sprintf("application id %q is malformed", clipInput(id)))
	}
	return nil
}

// Create decides a new application. A school applies for itself; a province
// may file on behalf of schools only for task types whose schema allows it.
// existing tells whether the application's stream has events. Errors:
// *domain.FieldError, *domain.ConflictError when the id is taken.
func Create(existing bool, cmd CreateApplication) ([]Decided, error) {
	if err := ValidateApplicationID(cmd.ApplicationID); err != nil {
		return nil, err
	}
	schema, ok := Schemas[cmd.Batch.TaskType]
	if !ok {
		return nil, domain.Invalid("batch_id", "该遴选批次的任务不接受申报", fmt.Sprintf("task type %q has no application schema", cmd.Batch.TaskType))
	}
	school, province := strings.TrimSpace(cmd.School), strings.TrimSpace(cmd.Province)
	switch cmd.By.Role {
	case identity.RoleSchool:
		if school != "" && school != cmd.By.Organisation {
			return nil, domain.Invalid("school", "学校只能为本校申报", fmt.Sprintf("school %s applied for %s", cmd.By.Organisation, school))
		}
		school = cmd.By.Organisation
		if r := cmd.Registered; r != nil {
			// The register says where the school is; a request that says
			// otherwise is refused rather than silently corrected, so the
			// school sees the record it applies under.
			if province != "" && province != r.Province {
				return nil, domain.Invalid("province", fmt.Sprintf("学校所在省份以学校名册为准：%s登记在%s，不能以%s申报", r.Name, r.ProvinceName(), provinceZh(province)),
					fmt.Sprintf("school %s is registered in %s, request says %q", school, r.Province, clipInput(province)))
			}
			province = r.Province
		}
		if _, ok := identity.Provinces[province]; !ok {
			return nil, domain.Invalid("province", "请填写学校所在省份的两位行政区划代码，如 11（北京市）", fmt.Sprintf("province %q is not a province code", clipInput(province)))
		}
	case identity.RoleProvince:
		if !schema.ProvinceMayFile {
			return nil, domain.Invalid("batch_id", fmt.Sprintf("%s由学校自行申报，省级部门不能代为申报", schema.Name),
				fmt.Sprintf("task type %s takes applications from schools only", schema.TaskType))
		}
		if province != "" && province != cmd.By.Organisation {
			return nil, domain.Invalid("province", "省级部门只能为本省学校申报", fmt.Sprintf("province %s filed for %s", cmd.By.Organisation, province))
		}
		province = cmd.By.Organisation
		if !schoolIDForm.MatchString(school) {
			return nil, domain.Invalid("school", "请填写牵头学校的学校标识", fmt.Sprintf("school %q is not a school id", clipInput(school)))
		}
		if r := cmd.Registered; r != nil && r.Province != province {
			return nil, domain.Invalid("school", fmt.Sprintf("%s登记在%s，不是本省学校，不能由本省代为申报", r.Name, r.ProvinceName()),
				fmt.Sprintf("lead school %s is registered in %s, not %s", school, r.Province, province))
		}
	default:
		return nil, domain.Invalid("role", "只有技工院校或省级人社部门可以申报", fmt.Sprintf("role %s may not apply", cmd.By.Role))
	}
	title, err := validateTitle(cmd.Title)
	if err != nil {
		return nil, err
	}
	fields, err := schema.ParseFields(cmd.Fields)
	if err != nil {
		return nil, err
	}
	if existing {
		return nil, domain.Conflict("application_id", "该申报编号已被使用", fmt.Sprintf("application %s exists", cmd.ApplicationID))
	}
	out := []Decided{{TypeApplicationCreated, ApplicationCreated{
		ApplicationID: cmd.ApplicationID, BatchID: cmd.Batch.BatchID, TaskItem: cmd.Batch.TaskItem, TaskType: schema.TaskType,
		School: school, Province: province, Title: title,
	}}}
	if cmd.By.Role == identity.RoleProvince {
		out = append(out, Decided{TypeApplicationFiledByProvince, ApplicationFiledByProvince{ApplicationID: cmd.ApplicationID, Province: province}})
	}
	if len(fields) > 0 {
		out = append(out, Decided{TypeApplicationEdited, ApplicationEdited{ApplicationID: cmd.ApplicationID, Title: title, Content: fields.Encode()}})
	}
	return out, nil
}

func validateTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", domain.Invalid("title", "请填写申报名称", "title is required")
	case utf8.RuneCountInString(title) > MaxTitleRunes:
		return "", domain.Invalid("title", fmt.Sprintf("申报名称不能超过%d个字", MaxTitleRunes), fmt.Sprintf("title has more than %d characters", MaxTitleRunes))
	}
	return title, nil
}

// notEditable explains why a is closed to changes at now.
func notEditable(a Application, now time.Time) error {
	if a.Status == StatusReturned {
		return domain.Conflict("status", "退回修改的期限已过，不能再修改或提交", fmt.Sprintf("application %s: correction window ended %s", a.ID, a.ReturnUntil))
	}
	return domain.Conflict("status", "申报已提交，不能再修改；如需修改，请等待资格审核退回", fmt.Sprintf("application %s is %s", a.ID, a.Status))
}

// Edit decides a replacement of the application's title and fields (the whole
// form, as PUT sends it). Nothing is decided when the content is unchanged:
// changed is false. Errors: *domain.FieldError, *domain.ConflictError when the
// application is submitted.
func Edit(a Application, title string, raw map[string]json.RawMessage, now time.Time) (e ApplicationEdited, changed bool, err error) {
	if !a.Editable(now) {
		return e, false, notEditable(a, now)
	}
	if title, err = validateTitle(title); err != nil {
		return e, false, err
	}
	fields, err := a.Schema().ParseFields(raw)
	if err != nil {
		return e, false, err
	}
	e = ApplicationEdited{ApplicationID: a.ID, Title: title, Content: fields.Encode()}
	same := title == a.Title && equalContent(e.Content, a.Fields.Encode())
	return e, !same, nil
}

func equalContent(x, y map[string]string) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if w, ok := y[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// AddAttachment decides attaching a stored file. Attaching content the
// application already holds decides nothing (added is false). Errors:
// *domain.FieldError for "file", *domain.ConflictError when the application is
// submitted, holds MaxAttachments files or would hold more than
// MaxAttachmentBytes.
func AddAttachment(a Application, att ApplicationAttachmentAdded, now time.Time) (e ApplicationAttachmentAdded, added bool, err error) {
	if !a.Editable(now) {
		return e, false, notEditable(a, now)
	}
	for _, have := range a.Attachments {
		if have.SHA256 == att.SHA256 {
			return have, false, nil
		}
	}
	if len(a.Attachments) >= MaxAttachments {
		return e, false, domain.Conflict("file", fmt.Sprintf("每份申报最多上传%d个附件", MaxAttachments), fmt.Sprintf("application %s has %d attachments", a.ID, len(a.Attachments)))
	}
	var total int64
	for _, have := range a.Attachments {
		total += have.Size
	}
	if total+att.Size > MaxAttachmentBytes {
		return e, false, domain.Conflict("file", fmt.Sprintf("每份申报的附件合计不能超过%d MB，已用%.1f MB", MaxAttachmentBytes>>20, float64(total)/(1<<20)),
			fmt.Sprintf("application %s holds %d bytes of attachments; %d more exceed the quota", a.ID, total, att.Size))
	}
	att.ApplicationID = a.ID
	att.Name = strings.TrimSpace(att.Name)
	if att.Name == "" {
		att.Name = att.SHA256[:min(12, len(att.SHA256))]
	}
	if r := []rune(att.Name); len(r) > maxAttachmentNameRunes {
		att.Name = string(r[:maxAttachmentNameRunes])
	}
	return att, true, nil
}

// Submit decides the submission of an application whose every required field
// is filled. Errors: *domain.FieldError naming the first missing field,
// *domain.ConflictError when it is not editable.
func Submit(a Application, now time.Time) (ApplicationSubmitted, error) {
	if !a.Editable(now) {
		return ApplicationSubmitted{}, notEditable(a, now)
	}
	if err := a.Schema().Complete(a.Fields, a.School); err != nil {
		return ApplicationSubmitted{}, err
	}
	return ApplicationSubmitted{ApplicationID: a.ID, At: now.UTC()}, nil
}

// Reopen decides that qualification review returns a submitted application for
// correction until until (zero: no limit). The batch's workflow calls it and
// appends the event to ApplicationStream. Errors: *domain.FieldError for
// "reason", *domain.ConflictError unless the application is submitted.
func Reopen(a Application, reason string, until time.Time) (ApplicationReturned, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case !a.Exists() || a.Status != StatusSubmitted:
		return ApplicationReturned{}, domain.Conflict("status", "只有已提交的申报可以退回修改", fmt.Sprintf("application %s is %q", a.ID, a.Status))
	case reason == "":
		return ApplicationReturned{}, domain.Invalid("reason", "请填写退回原因", "reason is required")
	case utf8.RuneCountInString(reason) > maxReturnReasonRunes:
		return ApplicationReturned{}, domain.Invalid("reason", fmt.Sprintf("退回原因不能超过%d个字", maxReturnReasonRunes), "reason too long")
	}
	return ApplicationReturned{ApplicationID: a.ID, Reason: reason, Until: until.UTC()}, nil
}

package selection

import (
	"fmt"
	"slices"
	"strings"

	"keytask/domain"
	"keytask/domain/identity"
)

// ApplicationFacts is what the log says of one application, as far as the
// batch's checks need it. An activity reads it from the application's stream;
// the rules below judge it, so the workflow never does I/O to decide.
type ApplicationFacts struct {
	ID       string            `json:"id"`
	Exists   bool              `json:"exists"`
	Status   ApplicationStatus `json:"status,omitempty"`
	Province string            `json:"province,omitempty"`
	TaskItem string            `json:"task_item,omitempty"`
	School   string            `json:"school,omitempty"`
	// SelectedIn is the school's selection for the task item in another
	// batch, when the log holds one (absent in facts read before it was kept).
	SelectedIn *PriorSelection `json:"selected_in,omitempty"`
}

// FactsOf summarises a folded application stream.
func FactsOf(id string, a Application) ApplicationFacts {
	if !a.Exists() {
		return ApplicationFacts{ID: id}
	}
	return ApplicationFacts{ID: id, Exists: true, Status: a.Status, Province: a.Province, TaskItem: a.TaskItem, School: a.School}
}

// CheckRecommendable decides whether a province may recommend apps, given the
// facts of each (in the same order): every application must exist, be
// submitted, be the province's own and apply to the batch's task item. The
// error is a *domain.FieldError naming "applications[i]".
func (s BatchState) CheckRecommendable(province string, apps []string, facts []ApplicationFacts) error {
	byID := make(map[string]ApplicationFacts, len(facts))
	for _, f := range facts {
		byID[f.ID] = f
	}
	for i, id := range apps {
		field := fmt.Sprintf("applications[%d]", i)
		f := byID[id]
		switch {
		case !f.Exists:
			return domain.Invalid(field, fmt.Sprintf("申报 %s 不存在", id), field+": no application "+id)
		case f.Province != province:
			return domain.Invalid(field, fmt.Sprintf("申报 %s 属于%s，不能由%s推荐", id, provinceZh(f.Province), provinceZh(province)),
				fmt.Sprintf("%s: %s belongs to province %s, not %s", field, id, f.Province, province))
		case f.TaskItem != s.TaskItem:
			return domain.Invalid(field, fmt.Sprintf("申报 %s 申报的是任务 %s，不属于本批次的任务 %s", id, f.TaskItem, s.TaskItem),
				fmt.Sprintf("%s: %s applies to task item %s, not %s", field, id, f.TaskItem, s.TaskItem))
		case f.Status == StatusReturned:
			return domain.Invalid(field, fmt.Sprintf("申报 %s 已退回修改，学校重新提交后方可推荐", id),
				fmt.Sprintf("%s: %s is returned for correction", field, id))
		case f.Status != StatusSubmitted:
			return domain.Invalid(field, fmt.Sprintf("申报 %s 尚未提交，不能推荐", id),
				fmt.Sprintf("%s: %s is %q, not submitted", field, id, f.Status))
		case f.SelectedIn != nil:
			return CheckNotSelected(field, f.School, f.TaskItem, []PriorSelection{*f.SelectedIn})
		}
	}
	return nil
}

// CheckResubmitted decides whether a returned application came back: the
// school must have submitted it again on its own stream (ApplicationSubmitted
// after ApplicationReturned) before the batch records the resubmission.
func CheckResubmitted(f ApplicationFacts) error {
	switch {
	case !f.Exists:
		return domain.Invalid("application", fmt.Sprintf("申报 %s 不存在", f.ID), "no application "+f.ID)
	case f.Status != StatusSubmitted:
		return domain.Conflict("application", fmt.Sprintf("学校尚未重新提交申报 %s，补正后提交方可重新审核", f.ID),
			fmt.Sprintf("resubmit refused: %s is %q on its stream", f.ID, f.Status))
	}
	return nil
}

func provinceZh(code string) string {
	if name, ok := identity.Provinces[code]; ok {
		return name
	}
	if code == "" {
		return "未知省份"
	}
	return "省份 " + code
}

// ApplicantSchool is the school an application by by would be for: a school's
// own code, or the lead school a province names. Create refuses a malformed
// one; this only tells which school the one-per-batch rule counts.
func ApplicantSchool(by identity.Principal, school string) string {
	if by.Role == identity.RoleSchool {
		return by.Organisation
	}
	return strings.TrimSpace(school)
}

// CheckFirstInBatch refuses a school's second application to one batch,
// naming the application it already has there. existing is the school's
// application to the batch as its stream holds it (not Exists when none).
func CheckFirstInBatch(existing Application) error {
	if !existing.Exists() {
		return nil
	}
	return domain.Conflict("batch_id", fmt.Sprintf("该校已在本遴选批次申报“%s”（申报编号 %s），每所学校每个批次只能申报一次",
		existing.Title, existing.ID), fmt.Sprintf("school %s already has application %s in batch %s", existing.School, existing.ID, existing.BatchID))
}

// PriorSelection is a school's application selected (published) in an
// earlier batch of the same task item.
type PriorSelection struct {
	BatchID     string `json:"batch_id"`
	Application string `json:"application"`
}

// CheckNotSelected refuses an application or recommendation for a task item
// the school was already selected for in another batch, naming that batch.
func CheckNotSelected(field, school, taskItem string, prior []PriorSelection) error {
	if len(prior) == 0 {
		return nil
	}
	p := prior[0]
	return domain.Conflict(field, fmt.Sprintf("该校已在遴选批次 %s 中入选任务 %s（申报编号 %s），不能再次入选同一任务", p.BatchID, taskItem, p.Application),
		fmt.Sprintf("school %s was selected for %s in batch %s (application %s)", school, taskItem, p.BatchID, p.Application))
}

// OutsideUnits decides on a province recommending schools outside the
// 实施单位 its filed intent named for the task item: each such application
// needs a reason (reasons, by application id), which the recommendation
// records. It returns the reasons to record, trimmed, for those applications
// alone. A province whose form named no 实施单位, or a batch opened before
// they were handed over, needs none. facts are those CheckRecommendable
// accepted. Errors: *domain.FieldError naming "reasons.<application>".
func (s BatchState) OutsideUnits(province string, apps []string, facts []ApplicationFacts, reasons map[string]string) (map[string]string, error) {
	units := s.Units[province]
	if len(units) == 0 {
		return nil, nil
	}
	school := make(map[string]string, len(facts))
	for _, f := range facts {
		school[f.ID] = f.School
	}
	var out map[string]string
	for _, id := range apps {
		if slices.Contains(units, school[id]) {
			continue
		}
		field := "reasons." + id
		r, err := text(field, reasons[id], fmt.Sprintf("申报 %s 的学校 %s 不在本省承接意向所列的实施单位中，推荐须说明理由", id, school[id]))
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[id] = r
	}
	return out, nil
}

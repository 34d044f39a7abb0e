package selection

import (
	"fmt"

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
}

// FactsOf summarises a folded application stream.
func FactsOf(id string, a Application) ApplicationFacts {
	if !a.Exists() {
		return ApplicationFacts{ID: id}
	}
	return ApplicationFacts{ID: id, Exists: true, Status: a.Status, Province: a.Province, TaskItem: a.TaskItem}
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

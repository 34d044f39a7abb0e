package selection

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/assign"
	"keytask/domain/identity"
)

// Limits of an expert's record.
const (
	maxExpertNameRunes = 50
	maxExpertListLen   = 500
)

// expertIDForm is identity's user id: an expert's id is their user id, which
// the policy matches assignments on.
var expertIDForm = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

var allianceIDForm = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// NormalizeExpert validates an expert's record and returns it trimmed, with its
// lists sorted and without duplicates and its zero levels dropped, so that the
// same record always encodes alike. Errors: *domain.FieldError naming the field
// ("expertise.YZYX", "conflict_schools", ...).
func NormalizeExpert(e ExpertRegistered) (ExpertRegistered, error) {
	e.ExpertID, e.Name = strings.TrimSpace(e.ExpertID), strings.TrimSpace(e.Name)
	e.Province, e.Employer = strings.TrimSpace(e.Province), strings.TrimSpace(e.Employer)
	switch {
	case !expertIDForm.MatchString(e.ExpertID):
		return e, domain.Invalid("expert_id", "专家ID应为专家的用户ID：小写字母、数字、“.”、“_”和“-”，以字母或数字开头，最长64位",
			fmt.Sprintf("expert id %q is malformed", clipInput(e.ExpertID)))
	case e.Name == "":
		return e, domain.Invalid("name", "请填写专家姓名", "name is required")
	case utf8.RuneCountInString(e.Name) > maxExpertNameRunes:
		return e, domain.Invalid("name", fmt.Sprintf("专家姓名不能超过%d个字", maxExpertNameRunes), "name too long")
	case e.Province != "" && identity.Provinces[e.Province] == "":
		return e, domain.Invalid("province", "所在省份应为两位行政区划代码，如 11（北京市）；国家级单位的专家留空",
			fmt.Sprintf("province %q is not a province code", clipInput(e.Province)))
	case e.Employer != "" && !schoolIDForm.MatchString(e.Employer):
		return e, domain.Invalid("employer", "工作单位为技工院校时应填写学校标识；否则留空", fmt.Sprintf("employer %q is not a school id", clipInput(e.Employer)))
	case e.Load < 1 || e.Load > assign.MaxLoad:
		return e, domain.Invalid("load", fmt.Sprintf("评审工作量上限应为1到%d之间的整数", assign.MaxLoad), fmt.Sprintf("load %d out of range", e.Load))
	}
	levels := map[string]int{}
	for _, task := range slices.Sorted(maps.Keys(e.Expertise)) {
		level := e.Expertise[task]
		if _, ok := Schemas[task]; !ok {
			return e, domain.Invalid("expertise."+task, "未知的任务类型："+clipInput(task)+"，应为 "+strings.Join(slices.Sorted(maps.Keys(Schemas)), "、")+" 之一",
				fmt.Sprintf("unknown task type %q", clipInput(task)))
		}
		if level < 0 || level > assign.MaxLevel {
			return e, domain.Invalid("expertise."+task, fmt.Sprintf("专业水平应为0到%d之间的整数", assign.MaxLevel), fmt.Sprintf("level %d out of range", level))
		}
		if level > 0 {
			levels[task] = level
		}
	}
	if len(levels) == 0 {
		return e, domain.Invalid("expertise", "请至少填写一个任务类型的专业水平（1到3）", "no expertise")
	}
	e.Expertise = levels
	var err error
	if e.Alliances, err = idList("alliances", "所属联盟", e.Alliances, allianceIDForm); err != nil {
		return e, err
	}
	if e.FormerEmployers, err = formerEmployers(e.FormerEmployers); err != nil {
		return e, err
	}
	if e.ConflictApplications, err = idList("conflict_applications", "申报回避的申报", e.ConflictApplications, applicationIDForm); err != nil {
		return e, err
	}
	if e.ConflictSchools, err = idList("conflict_schools", "申报回避的学校", e.ConflictSchools, schoolIDForm); err != nil {
		return e, err
	}
	return e, nil
}

// formerEmployers checks an employment history and sorts it by school and
// day left; a school left twice keeps its latest day.
func formerEmployers(fs []assign.FormerEmployment) ([]assign.FormerEmployment, error) {
	if len(fs) > maxExpertListLen {
		return nil, domain.Invalid("former_employers", fmt.Sprintf("曾任职学校不能超过%d项", maxExpertListLen), "former_employers too long")
	}
	var out []assign.FormerEmployment
	for i, f := range fs {
		f.School = strings.TrimSpace(f.School)
		at := fmt.Sprintf("former_employers[%d]", i)
		switch {
		case !schoolIDForm.MatchString(f.School):
			return nil, domain.Invalid(at+".school", fmt.Sprintf("曾任职学校第%d项的学校标识无效", i+1), fmt.Sprintf("%s.school %q is malformed", at, clipInput(f.School)))
		case f.Until.IsZero():
			return nil, domain.Invalid(at+".until", fmt.Sprintf("请填写曾任职学校第%d项的离职日期", i+1), at+".until is empty")
		}
		f.Until = f.Until.UTC()
		if j := slices.IndexFunc(out, func(o assign.FormerEmployment) bool { return o.School == f.School }); j >= 0 {
			if f.Until.After(out[j].Until) {
				out[j].Until = f.Until
			}
			continue
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b assign.FormerEmployment) int { return strings.Compare(a.School, b.School) })
	return out, nil
}

func idList(field, label string, ids []string, form *regexp.Regexp) ([]string, error) {
	if len(ids) > maxExpertListLen {
		return nil, domain.Invalid(field, fmt.Sprintf("%s不能超过%d项", label, maxExpertListLen), field+" too long")
	}
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		id = strings.TrimSpace(id)
		if !form.MatchString(id) {
			return nil, domain.Invalid(field, fmt.Sprintf("%s第%d项标识无效", label, i+1), fmt.Sprintf("%s[%d] %q is malformed", field, i, clipInput(id)))
		}
		out = append(out, id)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// RegisterExpert decides adding an expert to the pool. existing tells whether
// the expert's stream has events. Errors: *domain.FieldError,
// *domain.ConflictError when the expert is registered.
func RegisterExpert(existing bool, e ExpertRegistered) (ExpertRegistered, error) {
	e, err := NormalizeExpert(e)
	if err != nil {
		return e, err
	}
	if existing {
		return e, domain.Conflict("expert_id", "该专家已在专家库中，请修改其信息", fmt.Sprintf("expert %s exists", e.ExpertID))
	}
	return e, nil
}

// ExpertRecord returns the whole expert record an expert event's data carries:
// an ExpertRegistered and an ExpertUpdated both do. ok is false for other data.
func ExpertRecord(payload any) (rec ExpertRegistered, ok bool) {
	switch p := payload.(type) {
	case ExpertRegistered:
		return p, true
	case ExpertUpdated:
		return ExpertRegistered(p), true
	}
	return rec, false
}

// UpdateExpert decides replacing a registered expert's record; changed is false
// when nothing differs. Errors: *domain.FieldError.
func UpdateExpert(current ExpertRegistered, e ExpertRegistered) (ExpertUpdated, bool, error) {
	e, err := NormalizeExpert(e)
	if err != nil {
		return ExpertUpdated{}, false, err
	}
	return ExpertUpdated(e), !sameExpert(current, e), nil
}

func sameExpert(a, b ExpertRegistered) bool {
	return a.ExpertID == b.ExpertID && a.Name == b.Name && maps.Equal(a.Expertise, b.Expertise) &&
		a.Province == b.Province && a.Employer == b.Employer && slices.Equal(a.Alliances, b.Alliances) &&
		slices.EqualFunc(a.FormerEmployers, b.FormerEmployers, func(x, y assign.FormerEmployment) bool { return x.School == y.School && x.Until.Equal(y.Until) }) &&
		slices.Equal(a.ConflictApplications, b.ConflictApplications) && slices.Equal(a.ConflictSchools, b.ConflictSchools) &&
		a.Load == b.Load
}

// AssignExpert is the expert as the assignment solver takes it.
func (e ExpertRegistered) AssignExpert() assign.Expert {
	return assign.Expert{
		ID: e.ExpertID, Expertise: maps.Clone(e.Expertise), Province: e.Province, Employer: e.Employer,
		Alliances: slices.Clone(e.Alliances), FormerEmployers: slices.Clone(e.FormerEmployers), ConflictApplications: slices.Clone(e.ConflictApplications),
		ConflictSchools: slices.Clone(e.ConflictSchools), Load: e.Load,
	}
}

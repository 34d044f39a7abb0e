package assign

import (
	"fmt"
	"strings"

	"keytask/domain"
)

// InfeasibleError says that no assignment meets every constraint, which one
// fails, and for which applications. It is a *domain.ConflictError to errors.As:
// the problem is well formed but the expert pool cannot staff it.
type InfeasibleError struct {
	Constraint   Constraint `json:"constraint"` // TooFewEligible, TotalLoad or LoadLimit
	Field        string     `json:"field"`
	Applications []string   `json:"applications,omitempty"` // those that cannot all be staffed, sorted
	Shortages    []Shortage `json:"shortages,omitempty"`    // TooFewEligible: each application short of experts
	Need         int        `json:"need"`                   // reviews (人次) the applications need
	Available    int        `json:"available"`              // reviews the experts can give them at most
	Message      string     `json:"message"`                // for users, in Simplified Chinese
	Detail       string     `json:"detail"`                 // for logs, in English
}

func (e *InfeasibleError) Error() string { return e.Detail }

// As lets callers and the HTTP layer treat the error as a *domain.ConflictError.
func (e *InfeasibleError) As(target any) bool {
	if t, ok := target.(**domain.ConflictError); ok {
		*t = &domain.ConflictError{FieldError: domain.FieldError{Field: e.Field, Message: e.Message, Detail: e.Detail}}
		return true
	}
	return false
}

// Shortage is an application with fewer eligible experts than it needs, and
// where the qualified experts went.
type Shortage struct {
	Application string `json:"application"`
	Field       string `json:"field"`     // applications[i], i as the caller listed it
	Qualified   int    `json:"qualified"` // experts with expertise in its task type
	// Excluded counts qualified experts kept away, by conflict rule; an expert
	// kept away by two rules counts under both.
	Excluded map[Constraint]int `json:"excluded,omitempty"`
	NoLoad   int                `json:"no_load"` // qualified, free of conflict, but with load 0
	Eligible int                `json:"eligible"`
	Need     int                `json:"need"` // experts it still needs: N less those staying on its panel
}

func (s *Shortage) count(c Constraint) {
	if s.Excluded == nil {
		s.Excluded = map[Constraint]int{}
	}
	s.Excluded[c]++
}

// listed says how many ids a message names before "等".
const listed = 10

func tooFewEligible(short []Shortage, n int) error {
	e := &InfeasibleError{Constraint: TooFewEligible, Field: "applications", Shortages: short}
	for _, s := range short {
		e.Applications = append(e.Applications, s.Application)
		e.Need += s.Need
		e.Available += s.Eligible
	}
	if len(short) == 1 {
		s := short[0]
		e.Field = s.Field
		e.Message = fmt.Sprintf("申报 %s 可回避后合格专家仅 %d 名，少于每项所需 %d 名（%s）", s.Application, s.Eligible, s.Need, s.whyZh())
		e.Detail = fmt.Sprintf("application %s has %d eligible experts, needs %d (%s)", s.Application, s.Eligible, s.Need, s.whyEn())
		return e
	}
	var zh, en []string
	for _, s := range short[:min(len(short), listed)] {
		zh = append(zh, fmt.Sprintf("%s 仅 %d 名", s.Application, s.Eligible))
		en = append(en, fmt.Sprintf("%s has %d", s.Application, s.Eligible))
	}
	more, moreEn := "", ""
	if len(short) > listed {
		more, moreEn = " 等", ", ..."
	}
	e.Message = fmt.Sprintf("%d 项申报可回避后合格专家少于每项所需 %d 名：%s%s", len(short), n, strings.Join(zh, "、"), more)
	e.Detail = fmt.Sprintf("%d applications have fewer than %d eligible experts: %s%s", len(short), n, strings.Join(en, ", "), moreEn)
	return e
}

// conflictRules is the order in which explanations list conflict rules.
var conflictRules = []Constraint{SameSchool, FormerEmployer, SameProvince, SameAlliance, Declared, Withdrawn}

// excludedZh labels a count of experts kept away by a conflict rule.
var excludedZh = map[Constraint]string{
	SameSchool:     "同一学校回避",
	SameProvince:   "同一省份回避",
	SameAlliance:   "同一联盟回避",
	Declared:       "本人申报回避",
	FormerEmployer: "曾任职回避",
	Withdrawn:      "已退出评审",
}

func (s Shortage) whyZh() string {
	if s.Qualified == 0 {
		return "没有在该任务类型上有专长的专家"
	}
	parts := []string{fmt.Sprintf("该任务类型有专长的专家 %d 名", s.Qualified)}
	for _, c := range conflictRules {
		if k := s.Excluded[c]; k > 0 {
			parts = append(parts, fmt.Sprintf("%s %d 名", excludedZh[c], k))
		}
	}
	if s.NoLoad > 0 {
		parts = append(parts, fmt.Sprintf("工作量上限为 0 的 %d 名", s.NoLoad))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return parts[0] + "，其中" + strings.Join(parts[1:], "、")
}

func (s Shortage) whyEn() string {
	if s.Qualified == 0 {
		return "no expert has expertise in its task type"
	}
	parts := []string{fmt.Sprintf("%d experts qualified in its task type", s.Qualified)}
	for _, c := range conflictRules {
		if k := s.Excluded[c]; k > 0 {
			parts = append(parts, fmt.Sprintf("%d excluded as %s", k, c))
		}
	}
	if s.NoLoad > 0 {
		parts = append(parts, fmt.Sprintf("%d with load 0", s.NoLoad))
	}
	return strings.Join(parts, "; ")
}

func totalLoad(have, need, apps, n int) error {
	return &InfeasibleError{
		Constraint: TotalLoad, Field: "experts", Need: need, Available: have,
		Message: fmt.Sprintf("专家总工作量上限 %d 小于所需 %d（%d 项申报 × 每项 %d 名）", have, need, apps, n),
		Detail:  fmt.Sprintf("experts' loads total %d, below the %d reviews needed (%d applications x %d)", have, need, apps, n),
	}
}

func loadLimit(group []string, need, available int) error {
	ids, idsEn := strings.Join(group[:min(len(group), listed)], "、"), strings.Join(group[:min(len(group), listed)], ", ")
	if len(group) > listed {
		ids, idsEn = ids+" 等", idsEn+", ..."
	}
	return &InfeasibleError{
		Constraint: LoadLimit, Field: "applications", Applications: group, Need: need, Available: available,
		Message: fmt.Sprintf("申报 %s 共 %d 项需专家 %d 人次，但其合格专家在工作量上限内最多能提供 %d 人次，缺 %d 人次；请增加相关专业的专家或提高其工作量上限",
			ids, len(group), need, available, need-available),
		Detail: fmt.Sprintf("applications %s (%d) need %d reviews, but their eligible experts can give at most %d within their loads, %d short",
			idsEn, len(group), need, available, need-available),
	}
}

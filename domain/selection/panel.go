package selection

import (
	"fmt"
	"slices"
	"time"

	"keytask/domain"
)

// MinPerApplication is the smallest panel: every application is reviewed by at
// least three experts; a batch may raise the number, never lower it.
const MinPerApplication = 3

// ReminderLeads are how long before the scoring deadline experts with
// applications left to score are reminded, earliest first.
var ReminderLeads = []time.Duration{3 * 24 * time.Hour, 24 * time.Hour}

// CheckPanel refuses a panel smaller than MinPerApplication (0 takes the
// default, which is not).
func CheckPanel(perApplication int) error {
	if perApplication != 0 && perApplication < MinPerApplication {
		return domain.Invalid("per_application", fmt.Sprintf("每份申报至少由 %d 位专家评审，批次可提高人数，不能低于 %d 位", MinPerApplication, MinPerApplication),
			fmt.Sprintf("per application %d is below the panel floor %d", perApplication, MinPerApplication))
	}
	return nil
}

// place finds expert on application's panel: the application, the place's
// index, and whether the expert holds it.
func (s *BatchState) place(expert, application string) (AppState, int, bool) {
	a, ok := s.Apps[application]
	if !ok {
		return a, -1, false
	}
	ei, known := s.expertIdx(expert)
	if !known {
		return a, -1, false
	}
	j := slices.Index(a.Experts, ei)
	return a, j, j >= 0
}

func bit(j int) uint64 { return 1 << j }

// Signed reports whether expert signed the no-conflict declaration for
// application.
func (s BatchState) Signed(expert, application string) bool {
	a, j, ok := s.place(expert, application)
	return ok && a.Signed&bit(j) != 0
}

func (s BatchState) inScoring(now time.Time, what string) error {
	if err := s.inStage(StageExpertReview, what); err != nil {
		return err
	}
	if s.Confirmed != nil {
		return conflict("拟遴选名单已确认", "%s refused: ranking confirmed", what)
	}
	return s.beforeDeadline(now, what)
}

// DeclareNoConflict decides on an expert signing the declaration of no
// conflict of interest for applications assigned to them and not declined.
func (s BatchState) DeclareNoConflict(expert string, apps []string, now time.Time) (NoConflictDeclared, error) {
	if expert == "" {
		return NoConflictDeclared{}, domain.Invalid("expert", "请指定专家", "no expert")
	}
	if len(apps) == 0 {
		return NoConflictDeclared{}, domain.Invalid("applications", "请至少选择一份申报", "no applications")
	}
	for i, id := range apps {
		at := fmt.Sprintf("applications[%d]", i)
		a, j, ok := s.place(expert, id)
		switch {
		case !ok:
			return NoConflictDeclared{}, domain.Invalid(at, fmt.Sprintf("申报“%s”未分配给您评审", id), fmt.Sprintf("%s: %s is not assigned to %s", at, id, expert))
		case a.Declined&bit(j) != 0:
			return NoConflictDeclared{}, domain.Invalid(at, fmt.Sprintf("您已谢绝评审申报 %s", id), fmt.Sprintf("%s: %s declined %s", at, expert, id))
		case slices.Contains(apps[:i], id):
			return NoConflictDeclared{}, domain.Invalid(at, fmt.Sprintf("申报 %s 重复", id), at+" repeated")
		}
	}
	if err := s.inScoring(now, "签署无利益冲突声明"); err != nil {
		return NoConflictDeclared{}, err
	}
	return NoConflictDeclared{Expert: expert, Applications: slices.Clone(apps)}, nil
}

// Decline decides on an expert declining an application assigned to them,
// with a reason, before scoring it; conflict says the reason is a conflict
// of interest.
func (s BatchState) Decline(expert, application, reason string, isConflict bool, now time.Time) (AssignmentDeclined, error) {
	a, j, ok := s.place(expert, application)
	if !ok {
		return AssignmentDeclined{}, domain.Invalid("application", fmt.Sprintf("申报“%s”未分配给您评审", application),
			fmt.Sprintf("%s is not assigned to %s", application, expert))
	}
	reason, err := text("reason", reason, "谢绝评审须填写理由")
	if err != nil {
		return AssignmentDeclined{}, err
	}
	switch {
	case a.Declined&bit(j) != 0:
		return AssignmentDeclined{}, conflict("您已谢绝评审该申报", "decline refused: %s declined %s already", expert, application)
	case a.Scored&bit(j) != 0:
		return AssignmentDeclined{}, conflict("您已为该申报评分，不能再谢绝", "decline refused: %s scored %s", expert, application)
	}
	if err := s.inScoring(now, "谢绝评审"); err != nil {
		return AssignmentDeclined{}, err
	}
	return AssignmentDeclined{Expert: expert, Application: application, Reason: reason, Conflict: isConflict}, nil
}

// Slot is one expert's place on one application's panel.
type Slot struct {
	Application string `json:"application"`
	Expert      string `json:"expert"`
}

// OpenPlace is a place the solver is to fill: the experts who stay on the
// application's panel and those who left it (declined, replaced, or leaving
// now), who never come back.
type OpenPlace struct {
	Application string   `json:"application"`
	Staying     []string `json:"staying"`
	Barred      []string `json:"barred"`
	Leaving     []string `json:"leaving"`
}

// MayReplace decides on the ministry replacing experts who declined or are
// silent (have not scored), with a reason, during expert review before the
// list is confirmed: the places to fill, by application, sorted.
func (s BatchState) MayReplace(slots []Slot, reason string) ([]OpenPlace, error) {
	if len(slots) == 0 {
		return nil, domain.Invalid("slots", "请至少指定一位需替换的专家", "no slots")
	}
	if _, err := text("reason", reason, "替换专家须填写理由"); err != nil {
		return nil, err
	}
	byApp := map[string]*OpenPlace{}
	var order []string
	for i, sl := range slots {
		at := fmt.Sprintf("slots[%d]", i)
		a, j, ok := s.place(sl.Expert, sl.Application)
		if !ok {
			return nil, domain.Invalid(at, fmt.Sprintf("专家 %s 不是申报 %s 的评审专家", sl.Expert, sl.Application),
				fmt.Sprintf("%s: %s is not on the panel of %s", at, sl.Expert, sl.Application))
		}
		if a.Scored&bit(j) != 0 {
			return nil, domain.Invalid(at, fmt.Sprintf("专家 %s 已为申报 %s 评分，不能替换", sl.Expert, sl.Application),
				fmt.Sprintf("%s: %s scored %s", at, sl.Expert, sl.Application))
		}
		p, seen := byApp[sl.Application]
		if !seen {
			p = &OpenPlace{Application: sl.Application}
			byApp[sl.Application] = p
			order = append(order, sl.Application)
		}
		if slices.Contains(p.Leaving, sl.Expert) {
			return nil, domain.Invalid(at, "替换的专家重复", at+" repeated")
		}
		p.Leaving = append(p.Leaving, sl.Expert)
	}
	if err := s.inStage(StageExpertReview, "替换评审专家"); err != nil {
		return nil, err
	}
	if s.Confirmed != nil {
		return nil, conflict("拟遴选名单已确认，不能再替换评审专家", "replace refused: ranking confirmed")
	}
	slices.Sort(order)
	out := make([]OpenPlace, 0, len(order))
	for _, id := range order {
		p := byApp[id]
		a := s.Apps[id]
		for _, ei := range a.Experts {
			if ex := s.Experts[ei]; !slices.Contains(p.Leaving, ex) {
				p.Staying = append(p.Staying, ex)
			}
		}
		for _, ei := range a.Barred {
			p.Barred = append(p.Barred, s.Experts[ei])
		}
		p.Barred = append(p.Barred, p.Leaving...)
		slices.Sort(p.Leaving)
		out = append(out, *p)
	}
	return out, nil
}

// ReminderDue returns the reminder due at now before the scoring deadline,
// once per lead and deadline, naming the experts with applications left.
func (s BatchState) ReminderDue(now time.Time) (ScoringReminderDue, bool) {
	if !s.Panels || s.Stage != StageExpertReview || s.Overdue || s.Confirmed != nil || s.Reminded >= len(ReminderLeads) {
		return ScoringReminderDue{}, false
	}
	lead := ReminderLeads[s.Reminded]
	if now.Before(s.Deadline.Add(-lead)) || !now.Before(s.Deadline) {
		return ScoringReminderDue{}, false
	}
	var experts []string
	for _, se := range s.Silent() {
		experts = append(experts, se.Expert)
	}
	return ScoringReminderDue{Deadline: s.Deadline, Before: lead, Experts: experts}, true
}

// NextReminder is when the next scoring reminder falls due; zero when none.
func (s BatchState) NextReminder() time.Time {
	if !s.Panels || s.Stage != StageExpertReview || s.Overdue || s.Confirmed != nil || s.Reminded >= len(ReminderLeads) {
		return time.Time{}
	}
	return s.Deadline.Add(-ReminderLeads[s.Reminded])
}

// Silent lists, by expert id, the experts with assigned applications they
// have neither scored nor declined.
func (s BatchState) Silent() []SilentExpert {
	pending := map[int]int{}
	for _, id := range s.Ranked() {
		a := s.Apps[id]
		for j, ei := range a.Experts {
			if (a.Scored|a.Declined)&bit(j) == 0 {
				pending[ei]++
			}
		}
	}
	out := make([]SilentExpert, 0, len(pending))
	for ei, n := range pending {
		out = append(out, SilentExpert{Expert: s.Experts[ei], Pending: n})
	}
	slices.SortFunc(out, func(x, y SilentExpert) int { return compareStrings(x.Expert, y.Expert) })
	return out
}

// SilentAtDeadline is the report due with the scoring deadline: the experts
// still silent then; false when there are none or panels are not kept.
func (s BatchState) SilentAtDeadline() (ExpertsSilent, bool) {
	if !s.Panels || s.Stage != StageExpertReview || s.Confirmed != nil {
		return ExpertsSilent{}, false
	}
	silent := s.Silent()
	return ExpertsSilent{Deadline: s.Deadline, Experts: silent}, len(silent) > 0
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

// applyPanel moves the state on by a panel event.
func (s *BatchState) applyPanel(event any) error {
	switch e := event.(type) {
	case NoConflictDeclared:
		for _, id := range e.Applications {
			a, j, ok := s.place(e.Expert, id)
			if !ok {
				return fmt.Errorf("apply to batch %s: %s is not on %s", s.BatchID, e.Expert, id)
			}
			a.Signed |= bit(j)
			s.Apps[id] = a
		}
	case AssignmentDeclined:
		a, j, ok := s.place(e.Expert, e.Application)
		if !ok {
			return fmt.Errorf("apply to batch %s: %s is not on %s", s.BatchID, e.Expert, e.Application)
		}
		a.Declined |= bit(j)
		s.Apps[e.Application] = a
	case ExpertsReplaced:
		for _, r := range e.Replacements {
			a, j, ok := s.place(r.Expert, r.Application)
			if !ok {
				return fmt.Errorf("apply to batch %s: %s is not on %s", s.BatchID, r.Expert, r.Application)
			}
			ni, known := s.expertIdx(r.Replacement)
			if !known {
				s.Experts = append(s.Experts, r.Replacement)
				ni = len(s.Experts) - 1
				s.expertIndex[r.Replacement] = ni
			}
			a.Barred = append(slices.Clone(a.Barred), a.Experts[j])
			a.Experts = slices.Clone(a.Experts)
			a.Experts[j] = ni
			a.Scored &^= bit(j)
			a.Signed &^= bit(j)
			a.Declined &^= bit(j)
			s.Apps[r.Application] = a
		}
		// A proposal made before the panel changed no longer stands.
		s.Proposal, s.Proposed = nil, 0
	case ScoringReminderDue:
		s.Reminded++
	case ExpertsSilent:
	default:
		return fmt.Errorf("apply to batch %s: unexpected event %T", s.BatchID, event)
	}
	return nil
}

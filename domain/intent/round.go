package intent

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
)

// Stage of a round: open for forms until the deadline, closed after it (except
// for provinces with an extension), filed once the ministry has aggregated it.
type Stage string

const (
	StageOpen   Stage = "open"
	StageClosed Stage = "closed"
	StageFiled  Stage = "filed"
)

// Status of one province's form in a round.
type Status string

const (
	StatusNone      Status = "none"
	StatusDraft     Status = "draft"
	StatusSubmitted Status = "submitted"
	StatusReturned  Status = "returned"
)

// ProvinceState is one province's part of a round.
type ProvinceState struct {
	Status    Status       `json:"status"`
	Extension *time.Time   `json:"extension,omitempty"` // may submit until then, past the round's deadline
	Late      bool         `json:"late,omitempty"`      // its current submission came after the round's deadline
	Feedbacks int          `json:"feedbacks,omitempty"` // feedback recorded after filing
	Letter    *LetterState `json:"letter,omitempty"`    // the 厅函 that sends the form
}

// RoundState is what the decisions of a round need to know. It is built by
// OpenRound and moved on only by Apply, so replaying a round's events gives the
// same state.
type RoundState struct {
	RoundID         string                   `json:"round_id"`
	BatchID         string                   `json:"batch_id"`
	Items           []TaskItem               `json:"items"`
	Deadline        time.Time                `json:"deadline"`
	ReminderOffsets []time.Duration          `json:"reminder_offsets"`
	Stage           Stage                    `json:"stage"`
	Provinces       map[string]ProvinceState `json:"provinces"`
}

// Bounds on free text the ministry writes.
const (
	MaxReasonRunes   = 1000
	MaxFeedbackRunes = 2000
)

// shanghai formats deadlines for users. China has kept UTC+8 without daylight
// saving since 1991, so a fixed zone is exact and needs no tz database.
var shanghai = time.FixedZone("CST", 8*60*60)

func formatTime(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }

// OpenRound checks the parameters of a new round and returns its opening event
// (normalised: provinces sorted, every province when none is named) and its
// initial state. Field names are those of the opening parameters: round_id,
// batch_id, items[i].item, items[i].kind, provinces[i], deadline,
// reminder_offsets[i]. The deadline must be after now.
func OpenRound(o IntentRoundOpened, now time.Time) (IntentRoundOpened, RoundState, error) {
	switch {
	case strings.TrimSpace(o.RoundID) == "":
		return o, RoundState{}, domain.Invalid("round_id", "请填写轮次编号", "round id is empty")
	case strings.TrimSpace(o.BatchID) == "":
		return o, RoundState{}, domain.Invalid("batch_id", "请填写任务批次", "batch id is empty")
	case len(o.Items) == 0:
		return o, RoundState{}, domain.Invalid("items", "本轮没有任何任务（项目），请先在批次中添加任务", "round has no task items")
	}
	seen := map[string]bool{}
	for i, it := range o.Items {
		at := fmt.Sprintf("items[%d]", i)
		switch {
		case strings.TrimSpace(it.Item) == "":
			return o, RoundState{}, domain.Invalid(at+".item", fmt.Sprintf("第%d项任务缺少序号", i+1), at+": empty item")
		case seen[it.Item]:
			return o, RoundState{}, domain.Invalid(at+".item", fmt.Sprintf("任务序号 %s 重复", it.Item), at+": repeated item "+it.Item)
		case it.Kind != KindSelection && it.Kind != KindDevelopment:
			return o, RoundState{}, domain.Invalid(at+".kind", fmt.Sprintf("任务 %s 的类别须为遴选类或开发类", it.Item),
				fmt.Sprintf("%s: kind %q", at, it.Kind))
		}
		seen[it.Item] = true
	}
	if len(o.Provinces) == 0 {
		o.Provinces = slices.Sorted(maps.Keys(identity.Provinces))
	} else {
		o.Provinces = slices.Clone(o.Provinces)
	}
	for i, p := range o.Provinces {
		if _, ok := identity.Provinces[p]; !ok {
			return o, RoundState{}, domain.Invalid(fmt.Sprintf("provinces[%d]", i), fmt.Sprintf("省份代码“%s”不存在", clip(p)),
				fmt.Sprintf("unknown province code %q", clip(p)))
		}
		if slices.Contains(o.Provinces[:i], p) {
			return o, RoundState{}, domain.Invalid(fmt.Sprintf("provinces[%d]", i), fmt.Sprintf("省份 %s 重复", identity.Provinces[p]),
				"repeated province "+p)
		}
	}
	slices.Sort(o.Provinces)
	if !o.Deadline.After(now) {
		return o, RoundState{}, domain.Invalid("deadline", "截止时间须晚于当前时间",
			fmt.Sprintf("deadline %s is not after now %s", o.Deadline, now))
	}
	for i, d := range o.ReminderOffsets {
		if d <= 0 {
			return o, RoundState{}, domain.Invalid(fmt.Sprintf("reminder_offsets[%d]", i), "提醒时间须在截止时间之前（提前量须为正）",
				fmt.Sprintf("reminder offset %s is not positive", d))
		}
		if slices.Contains(o.ReminderOffsets[:i], d) {
			return o, RoundState{}, domain.Invalid(fmt.Sprintf("reminder_offsets[%d]", i), "提醒时间重复",
				fmt.Sprintf("reminder offset %s repeated", d))
		}
	}
	s := RoundState{
		RoundID:         o.RoundID,
		BatchID:         o.BatchID,
		Items:           slices.Clone(o.Items),
		Deadline:        o.Deadline,
		ReminderOffsets: slices.Clone(o.ReminderOffsets),
		Stage:           StageOpen,
		Provinces:       make(map[string]ProvinceState, len(o.Provinces)),
	}
	for _, p := range o.Provinces {
		s.Provinces[p] = ProvinceState{Status: StatusNone}
	}
	return o, s, nil
}

// SaveDraft decides on saving a province's form without submitting it. A
// submitted form must be returned by the ministry before it can change; after the
// deadline only a province with a running extension may still save.
//
// schools are what the register holds for the codes the form names as 实施单位
// (see CheckUnits and UnitCodes); the caller reads them from the log.
func (s RoundState) SaveDraft(province string, in FormInput, schools map[string]School, now time.Time) (IntentDraftSaved, error) {
	ps, err := s.province(province)
	if err != nil {
		return IntentDraftSaved{}, err
	}
	if err := s.mayEdit(province, ps, now, "保存"); err != nil {
		return IntentDraftSaved{}, err
	}
	form, err := s.validate(province, in, schools)
	if err != nil {
		return IntentDraftSaved{}, err
	}
	return IntentDraftSaved{RoundID: s.RoundID, Province: province, Form: form}, nil
}

// Submit decides on a province's submission at now. Before the round's deadline
// it is on time; after it, it is accepted only within the province's extension
// and marked late. schools are as for SaveDraft.
func (s RoundState) Submit(province string, in FormInput, schools map[string]School, now time.Time) (IntentSubmitted, error) {
	ps, err := s.province(province)
	if err != nil {
		return IntentSubmitted{}, err
	}
	if err := s.mayEdit(province, ps, now, "提交"); err != nil {
		return IntentSubmitted{}, err
	}
	form, err := s.validate(province, in, schools)
	if err != nil {
		return IntentSubmitted{}, err
	}
	return IntentSubmitted{RoundID: s.RoundID, Province: province, Form: form, Late: !now.Before(s.Deadline)}, nil
}

// validate checks a form against the round's catalogue and its 实施单位
// against the register.
func (s RoundState) validate(province string, in FormInput, schools map[string]School) (Form, error) {
	form, err := Validate(s.Items, in)
	if err != nil {
		return Form{}, err
	}
	return CheckUnits(form, in, province, schools)
}

// mayEdit refuses a save or submission that the round's stage, the form's status
// or the time does not allow; verb is 保存 or 提交.
func (s RoundState) mayEdit(province string, ps ProvinceState, now time.Time, verb string) error {
	name := identity.Provinces[province]
	switch {
	case s.Stage == StageFiled:
		return domain.Conflict("", "本轮承接意向已汇总备案，不能再"+verb,
			fmt.Sprintf("%s refused: round %s is filed", verb, s.RoundID))
	case ps.Status == StatusSubmitted:
		return domain.Conflict("", name+"的承接意向表已提交，须经部退回后方可修改或重新提交",
			fmt.Sprintf("%s refused: %s already submitted", verb, province))
	case now.Before(s.Deadline):
		return nil
	case ps.Extension == nil:
		return domain.Conflict("", fmt.Sprintf("已过截止时间（%s），未获延期，不能%s", formatTime(s.Deadline), verb),
			fmt.Sprintf("%s refused: %s is past the deadline %s without an extension", verb, province, s.Deadline))
	case !now.Before(*ps.Extension):
		return domain.Conflict("", fmt.Sprintf("已过延期截止时间（%s），不能%s", formatTime(*ps.Extension), verb),
			fmt.Sprintf("%s refused: %s is past its extension %s", verb, province, *ps.Extension))
	}
	return nil
}

// Return decides on the ministry returning a submitted form for revision. A
// filed round's forms cannot be returned.
func (s RoundState) Return(province, reason string) (IntentReturned, error) {
	ps, err := s.province(province)
	if err != nil {
		return IntentReturned{}, err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return IntentReturned{}, domain.Invalid("reason", "请填写退回原因", "return without a reason")
	case utf8.RuneCountInString(reason) > MaxReasonRunes:
		return IntentReturned{}, domain.Invalid("reason", fmt.Sprintf("退回原因不能超过 %d 字", MaxReasonRunes),
			"return reason too long")
	case s.Stage == StageFiled:
		return IntentReturned{}, domain.Conflict("", "本轮承接意向已汇总备案，不能退回",
			fmt.Sprintf("return refused: round %s is filed", s.RoundID))
	case ps.Status != StatusSubmitted:
		return IntentReturned{}, domain.Conflict("", identity.Provinces[province]+"的承接意向表尚未提交，不能退回",
			fmt.Sprintf("return refused: %s is %s, not submitted", province, ps.Status))
	}
	return IntentReturned{RoundID: s.RoundID, Province: province, Reason: reason}, nil
}

// Extend decides on letting one province submit until deadline, which must be
// later than both the round's deadline and now. A later extension replaces an
// earlier one.
func (s RoundState) Extend(province string, deadline, now time.Time) (ProvinceDeadlineExtended, error) {
	if _, err := s.province(province); err != nil {
		return ProvinceDeadlineExtended{}, err
	}
	switch {
	case deadline.IsZero():
		return ProvinceDeadlineExtended{}, domain.Invalid("deadline", "请填写延期截止时间", "extension without a deadline")
	case !deadline.After(s.Deadline):
		return ProvinceDeadlineExtended{}, domain.Invalid("deadline",
			fmt.Sprintf("延期截止时间须晚于本轮截止时间（%s）", formatTime(s.Deadline)),
			fmt.Sprintf("extension %s is not after the round deadline %s", deadline, s.Deadline))
	case !deadline.After(now):
		return ProvinceDeadlineExtended{}, domain.Invalid("deadline", "延期截止时间须晚于当前时间",
			fmt.Sprintf("extension %s is not after now %s", deadline, now))
	case s.Stage == StageFiled:
		return ProvinceDeadlineExtended{}, domain.Conflict("", "本轮承接意向已汇总备案，不能再延期",
			fmt.Sprintf("extension refused: round %s is filed", s.RoundID))
	}
	return ProvinceDeadlineExtended{RoundID: s.RoundID, Province: province, Deadline: deadline}, nil
}

// Close decides on closing the round at its deadline, listing who submitted and
// who did not (both sorted).
func (s RoundState) Close(now time.Time) (IntentRoundClosed, error) {
	switch {
	case s.Stage != StageOpen:
		return IntentRoundClosed{}, domain.Conflict("", "本轮承接意向填报已截止",
			fmt.Sprintf("close refused: round %s is %s", s.RoundID, s.Stage))
	case now.Before(s.Deadline):
		return IntentRoundClosed{}, domain.Conflict("", fmt.Sprintf("截止时间（%s）未到，不能截止", formatTime(s.Deadline)),
			fmt.Sprintf("close refused: now %s is before the deadline %s", now, s.Deadline))
	}
	e := IntentRoundClosed{RoundID: s.RoundID, Submitted: []string{}, Missing: []string{}}
	for _, p := range s.ProvinceCodes() {
		if s.Provinces[p].Status == StatusSubmitted {
			e.Submitted = append(e.Submitted, p)
		} else {
			e.Missing = append(e.Missing, p)
		}
	}
	return e, nil
}

// File decides on the ministry aggregating and filing the round (汇总备案). The
// round must be closed, and no province may still be inside an extension without
// having submitted: filing would cut it off. Before the deadline the round may
// be filed once every province has submitted: nobody is left to wait for, and
// the event says it was filed early.
func (s RoundState) File(now time.Time) (IntentRoundFiled, error) {
	switch s.Stage {
	case StageOpen:
		var missing []string
		for _, p := range s.ProvinceCodes() {
			if s.Provinces[p].Status != StatusSubmitted {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return IntentRoundFiled{RoundID: s.RoundID, Early: true}, nil
		}
		names := make([]string, 0, 3)
		for _, p := range missing[:min(3, len(missing))] {
			names = append(names, identity.Provinces[p])
		}
		more := ""
		if len(missing) > 3 {
			more = "等"
		}
		return IntentRoundFiled{}, domain.Conflict("", fmt.Sprintf("截止时间（%s）前须各省均已提交方可汇总备案，尚有 %d 个省份未提交（%s%s）",
			formatTime(s.Deadline), len(missing), strings.Join(names, "、"), more),
			fmt.Sprintf("file refused: round %s is open and %d provinces have not submitted", s.RoundID, len(missing)))
	case StageFiled:
		return IntentRoundFiled{}, domain.Conflict("", "本轮承接意向已汇总备案", fmt.Sprintf("file refused: round %s is already filed", s.RoundID))
	}
	for _, p := range s.ProvinceCodes() {
		ps := s.Provinces[p]
		if ps.Extension != nil && now.Before(*ps.Extension) && ps.Status != StatusSubmitted {
			return IntentRoundFiled{}, domain.Conflict("",
				fmt.Sprintf("%s获准延期至 %s，尚未提交，延期届满或其提交后方可汇总备案", identity.Provinces[p], formatTime(*ps.Extension)),
				fmt.Sprintf("file refused: %s has an extension until %s and has not submitted", p, *ps.Extension))
		}
	}
	return IntentRoundFiled{RoundID: s.RoundID}, nil
}

// Feedback decides on the ministry's feedback to one province, which is given
// only after filing (the notice: 汇总备案并反馈).
func (s RoundState) Feedback(province, text string) (IntentFeedbackRecorded, error) {
	if _, err := s.province(province); err != nil {
		return IntentFeedbackRecorded{}, err
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return IntentFeedbackRecorded{}, domain.Invalid("text", "请填写反馈意见", "feedback without text")
	case utf8.RuneCountInString(text) > MaxFeedbackRunes:
		return IntentFeedbackRecorded{}, domain.Invalid("text", fmt.Sprintf("反馈意见不能超过 %d 字", MaxFeedbackRunes),
			"feedback too long")
	case s.Stage != StageFiled:
		return IntentFeedbackRecorded{}, domain.Conflict("", "本轮承接意向汇总备案后方可反馈",
			fmt.Sprintf("feedback refused: round %s is %s, not filed", s.RoundID, s.Stage))
	}
	return IntentFeedbackRecorded{RoundID: s.RoundID, Province: province, Text: text}, nil
}

// Reminders lists the reminders due at offset before the deadline: one for each
// province that has not submitted, in code order. None are due once the round is
// no longer open.
func (s RoundState) Reminders(offset time.Duration) []IntentReminderSent {
	if s.Stage != StageOpen {
		return nil
	}
	var out []IntentReminderSent
	for _, p := range s.ProvinceCodes() {
		if s.Provinces[p].Status != StatusSubmitted {
			out = append(out, IntentReminderSent{RoundID: s.RoundID, Province: p, Offset: offset})
		}
	}
	return out
}

// ProvinceCodes returns the round's provinces in code order.
func (s RoundState) ProvinceCodes() []string {
	return slices.Sorted(maps.Keys(s.Provinces))
}

func (s RoundState) province(code string) (ProvinceState, error) {
	if code == "" {
		return ProvinceState{}, domain.Invalid("province", "请指定省份", "no province")
	}
	ps, ok := s.Provinces[code]
	if !ok {
		if name, known := identity.Provinces[code]; known {
			return ProvinceState{}, domain.Invalid("province", name+"不在本轮承接意向填报范围内",
				fmt.Sprintf("province %s is not in round %s", code, s.RoundID))
		}
		return ProvinceState{}, domain.Invalid("province", fmt.Sprintf("省份代码“%s”不存在", clip(code)),
			fmt.Sprintf("unknown province code %q", clip(code)))
	}
	return ps, nil
}

// Apply moves the state on by one of the round's event payloads (as a value).
// Events that change nothing the decisions read, such as reminders, are accepted
// and ignored.
func (s *RoundState) Apply(event any) error {
	set := func(p string, f func(*ProvinceState)) error {
		ps, ok := s.Provinces[p]
		if !ok {
			return fmt.Errorf("apply to round %s: unknown province %q", s.RoundID, p)
		}
		f(&ps)
		s.Provinces[p] = ps
		return nil
	}
	switch e := event.(type) {
	case IntentDraftSaved:
		return set(e.Province, func(ps *ProvinceState) { ps.Status = StatusDraft })
	case IntentSubmitted:
		return set(e.Province, func(ps *ProvinceState) { ps.Status, ps.Late = StatusSubmitted, e.Late })
	case IntentReturned:
		return set(e.Province, func(ps *ProvinceState) { ps.Status, ps.Late = StatusReturned, false })
	case ProvinceDeadlineExtended:
		d := e.Deadline
		return set(e.Province, func(ps *ProvinceState) { ps.Extension = &d })
	case IntentFeedbackRecorded:
		return set(e.Province, func(ps *ProvinceState) { ps.Feedbacks++ })
	case IntentLetterRecorded:
		return set(e.Province, func(ps *ProvinceState) { ps.Letter = &LetterState{No: e.LetterNo} })
	case IntentLetterArrived:
		return set(e.Province, func(ps *ProvinceState) {
			if ps.Letter != nil {
				ps.Letter.Arrived = true
			}
		})
	case IntentRoundClosed:
		s.Stage = StageClosed
	case IntentRoundFiled:
		s.Stage = StageFiled
	case IntentReminderSent, IntentRoundOpened:
	default:
		return fmt.Errorf("apply to round %s: unexpected event %T", s.RoundID, event)
	}
	return nil
}

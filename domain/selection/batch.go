package selection

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/assign"
	"keytask/domain/calendar"
	"keytask/domain/identity"
	"keytask/domain/scoring"
)

// Stage of a batch.
type Stage string

const (
	StageRecommendation Stage = "recommendation" // 组织推荐
	StageQualification  Stage = "qualification"  // 资格审核
	StageExpertReview   Stage = "expert_review"  // 专家遴选
	StageNotice         Stage = "notice"         // 公示
	StagePublished      Stage = "published"      // 公布
)

var stages = []Stage{StageRecommendation, StageQualification, StageExpertReview, StageNotice, StagePublished}

// Zh names the stage for users.
func (s Stage) Zh() string {
	switch s {
	case StageRecommendation:
		return "组织推荐"
	case StageQualification:
		return "资格审核"
	case StageExpertReview:
		return "专家遴选"
	case StageNotice:
		return "公示"
	case StagePublished:
		return "公布"
	}
	return string(s)
}

// Next is the stage after s; "" after publication or for an unknown stage.
func (s Stage) Next() Stage {
	if i := slices.Index(stages, s); i >= 0 && i+1 < len(stages) {
		return stages[i+1]
	}
	return ""
}

// Previous is the stage before s; "" for the first or an unknown stage.
func (s Stage) Previous() Stage {
	if i := slices.Index(stages, s); i > 0 {
		return stages[i-1]
	}
	return ""
}

// Defaults and bounds.
const (
	DefaultNoticeDays       = 5
	DefaultCorrectionWindow = 5 * 24 * time.Hour
	DefaultOutlierThreshold = 20                  // points out of 100 between experts' totals
	DefaultPeriod           = 30 * 24 * time.Hour // of a stage whose period the batch does not set
	MaxPerApplication       = 64                  // scored experts are a bit set
	MaxTextRunes            = 1000
)

// AppState is one recommended application in the batch, kept small because a
// national batch holds thousands and the workflow carries them all.
type AppState struct {
	Province    string    `json:"p"`
	Rank        int       `json:"r"`           // in the province's recommendation, 1-based
	Outcome     Outcome   `json:"o,omitempty"` // "" until decided, and again after a resubmission
	Until       time.Time `json:"u,omitzero"`  // Returned: the correction window's end
	Experts     []int     `json:"e,omitempty"` // indices into BatchState.Experts
	Scored      uint64    `json:"s,omitempty"` // bit i: Experts[i] has scored
	Removed     bool      `json:"x,omitempty"` // an objection against it was upheld
	Resubmitted bool      `json:"c,omitempty"`
	Signed      uint64    `json:"n,omitempty"` // bit i: Experts[i] signed the no-conflict declaration
	Declined    uint64    `json:"d,omitempty"` // bit i: Experts[i] declined
	Barred      []int     `json:"b,omitempty"` // experts who left the panel (replaced), never put back
	Consensus   bool      `json:"k,omitempty"` // the panel's consensus stands for the latest scores
}

// ObjectionState is one objection's place in adjudication.
type ObjectionState struct {
	Application string       `json:"application"`
	Outcome     Adjudication `json:"outcome,omitempty"` // "" until adjudicated
}

// BatchState is what a batch's decisions need. It is built by OpenBatch and
// moved on only by Apply, so replaying the batch's events gives the same state.
type BatchState struct {
	SelectionBatchOpened
	Stage       Stage                     `json:"stage"`
	Deadline    time.Time                 `json:"deadline"` // of the current stage
	Overdue     bool                      `json:"overdue,omitempty"`
	Apps        map[string]AppState       `json:"apps"`
	Recommended map[string][]string       `json:"recommended"` // province → its ranked list
	Experts     []string                  `json:"experts,omitempty"`
	AssignRound int                       `json:"assign_round,omitempty"`
	Proposal    []string                  `json:"proposal,omitempty"` // selected, in ranking order
	Proposed    int                       `json:"proposed,omitempty"` // round of the proposal; 0 = none
	Confirmed   []string                  `json:"confirmed,omitempty"`
	Notice      *NoticePeriod             `json:"notice,omitempty"`
	Objections  map[string]ObjectionState `json:"objections,omitempty"`
	Published   []string                  `json:"published,omitempty"`
	// Panels is set on batches opened with panel rules (a floor of three,
	// declarations before scoring, reminders, silent experts reported);
	// batches opened before them keep the rules they began with.
	Panels   bool `json:"pn,omitempty"`
	Reminded int  `json:"rm,omitempty"` // scoring reminders sent for the current deadline
	// Reserve is the proposal's next-ranked applications at or above the
	// pass scores, in order, bounded by the quota: who moves up (递补).
	Reserve []string `json:"reserve,omitempty"`
	// Successors maps each application that moved up onto the notice to the
	// end of its own notice period.
	Successors map[string]time.Time `json:"successors,omitempty"`

	expertIndex map[string]int
}

var shanghai = calendar.Shanghai

func formatTime(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }

func conflict(msg, detail string, args ...any) error {
	return domain.Conflict("", msg, fmt.Sprintf(detail, args...))
}

// OpenBatch checks and normalises a new batch and returns its opening event
// and initial state (stage recommendation, deadline o.Deadline). Zero
// PerApplication, NoticeDays and CorrectionWindow take the defaults.
func OpenBatch(o SelectionBatchOpened, now time.Time) (SelectionBatchOpened, BatchState, error) {
	fail := func(field, msg, detail string) (SelectionBatchOpened, BatchState, error) {
		return o, BatchState{}, domain.Invalid(field, msg, detail)
	}
	switch {
	case strings.TrimSpace(o.BatchID) == "":
		return fail("batch_id", "请填写遴选批次编号", "batch id is empty")
	case strings.TrimSpace(o.TaskItem) == "":
		return fail("task_item", "请指定任务（项目）", "task item is empty")
	case strings.TrimSpace(o.TaskType) == "":
		return fail("task_type", "请指定任务类型", "task type is empty")
	case o.Quota < 1:
		return fail("quota", "遴选名额须为正整数", fmt.Sprintf("quota %d", o.Quota))
	case len(o.ProvinceQuotas) == 0:
		return fail("province_quotas", "没有任何省份的推荐名额（请先汇总承接意向）", "no province quotas")
	case o.PerApplication < 0 || o.PerApplication > MaxPerApplication:
		return fail("per_application", fmt.Sprintf("每份申报的评审专家人数须在 1 到 %d 之间", MaxPerApplication),
			fmt.Sprintf("per application %d", o.PerApplication))
	case o.NoticeDays < 0:
		return fail("notice_days", "公示期须为正整数个工作日", fmt.Sprintf("notice days %d", o.NoticeDays))
	case o.CorrectionWindow < 0:
		return fail("correction_window", "补正期限须为正", "negative correction window")
	case o.OutlierThreshold < 0 || o.OutlierThreshold > 100:
		return fail("outlier_threshold", "异常分差阈值须在 1 到 100 分之间", fmt.Sprintf("outlier threshold %d", o.OutlierThreshold))
	case !o.Deadline.After(now):
		return fail("deadline", "推荐截止时间须晚于当前时间", fmt.Sprintf("deadline %s is not after now %s", o.Deadline, now))
	}
	for _, p := range slices.Sorted(maps.Keys(o.ProvinceQuotas)) {
		if _, ok := identity.Provinces[p]; !ok {
			return fail("province_quotas."+p, fmt.Sprintf("省份代码“%s”不存在", p), "unknown province "+p)
		}
		if o.ProvinceQuotas[p] < 0 {
			return fail("province_quotas."+p, identity.Provinces[p]+"的推荐名额不能为负", "negative quota for "+p)
		}
	}
	for st, d := range o.Periods {
		if st != StageRecommendation && st != StageQualification && st != StageExpertReview {
			return fail("periods."+string(st), "只能为组织推荐、资格审核、专家遴选阶段设定时长", "period for stage "+string(st))
		}
		if d <= 0 {
			return fail("periods."+string(st), st.Zh()+"阶段时长须为正", "non-positive period for "+string(st))
		}
	}
	if o.Rubric.TaskType != o.TaskType {
		return fail("rubric.task_type", "评分细则的任务类型与本批次不一致",
			fmt.Sprintf("rubric task type %q, batch %q", o.Rubric.TaskType, o.TaskType))
	}
	if err := o.Rubric.Validate(); err != nil {
		if fe, ok := err.(*domain.FieldError); ok {
			return fail("rubric."+fe.Field, fe.Message, fe.Detail)
		}
		return o, BatchState{}, err
	}
	if o.PassTotal < 0 || o.PassTotal > 100 {
		return fail("pass_total", "总分及格线须在 0 到 100 分之间", fmt.Sprintf("pass total %d", o.PassTotal))
	}
	for _, k := range slices.Sorted(maps.Keys(o.PassScores)) {
		i := slices.IndexFunc(o.Rubric.Criteria, func(c scoring.Criterion) bool { return c.Key == k })
		if i < 0 {
			return fail("pass_scores."+k, fmt.Sprintf("评分细则中没有评分项“%s”", k), "pass mark for unknown criterion "+k)
		}
		if v, c := o.PassScores[k], o.Rubric.Criteria[i]; v < 0 || v > c.Max {
			return fail("pass_scores."+k, fmt.Sprintf("“%s”及格线须在 0 到该项满分 %d 之间", c.Name, c.Max), fmt.Sprintf("pass mark %d for %s", v, k))
		}
	}
	if o.ConsensusSpread < 0 || o.ConsensusSpread > 100 {
		return fail("consensus_spread", "须合议的评分差异须在 0 到 100 分之间", fmt.Sprintf("consensus spread %d", o.ConsensusSpread))
	}
	if o.PerApplication == 0 {
		o.PerApplication = assign.DefaultPerApplication
	}
	if o.NoticeDays == 0 {
		o.NoticeDays = DefaultNoticeDays
	}
	if o.OutlierThreshold == 0 {
		o.OutlierThreshold = DefaultOutlierThreshold
	}
	if o.CorrectionWindow == 0 {
		o.CorrectionWindow = DefaultCorrectionWindow
	}
	o.ProvinceQuotas = maps.Clone(o.ProvinceQuotas)
	o.Periods = maps.Clone(o.Periods)
	o.IntendedQuotas = maps.Clone(o.IntendedQuotas)
	o.QuotaOverrides = slices.Clone(o.QuotaOverrides)
	o.Units = maps.Clone(o.Units)
	o.PassScores = maps.Clone(o.PassScores)
	s := BatchState{
		SelectionBatchOpened: o,
		Stage:                StageRecommendation,
		Deadline:             o.Deadline,
		Apps:                 map[string]AppState{},
		Recommended:          map[string][]string{},
		Objections:           map[string]ObjectionState{},
	}
	return o, s, nil
}

func (s BatchState) period(st Stage) time.Duration {
	if d, ok := s.Periods[st]; ok {
		return d
	}
	return DefaultPeriod
}

func (s BatchState) inStage(st Stage, what string) error {
	if s.Stage != st {
		return conflict(fmt.Sprintf("当前处于%s阶段，不能%s（须在%s阶段）", s.Stage.Zh(), what, st.Zh()),
			"%s refused: stage is %s, not %s", what, s.Stage, st)
	}
	return nil
}

func (s BatchState) beforeDeadline(now time.Time, what string) error {
	if !now.Before(s.Deadline) {
		return conflict(fmt.Sprintf("%s阶段已于 %s 截止，不能%s", s.Stage.Zh(), formatTime(s.Deadline), what),
			"%s refused: past the %s deadline %s", what, s.Stage, s.Deadline)
	}
	return nil
}

func text(field, value, missing string) (string, error) {
	v := strings.TrimSpace(value)
	switch {
	case v == "":
		return "", domain.Invalid(field, missing, field+" is empty")
	case utf8.RuneCountInString(v) > MaxTextRunes:
		return "", domain.Invalid(field, fmt.Sprintf("不能超过 %d 字", MaxTextRunes), field+" too long")
	}
	return v, nil
}

// Quota is how many applications province may recommend.
func (s BatchState) QuotaOf(province string) int { return s.ProvinceQuotas[province] }

// RaiseQuota decides on the ministry letting a province recommend up to quota,
// which must exceed its current quota, during the recommendation stage.
func (s BatchState) RaiseQuota(province string, quota int, reason string) (ProvinceQuotaRaised, error) {
	cur, ok := s.ProvinceQuotas[province]
	if !ok {
		if _, known := identity.Provinces[province]; !known {
			return ProvinceQuotaRaised{}, domain.Invalid("province", fmt.Sprintf("省份代码“%s”不存在", province), "unknown province")
		}
	}
	reason, err := text("reason", reason, "请填写提高推荐名额的理由")
	if err != nil {
		return ProvinceQuotaRaised{}, err
	}
	if quota <= cur {
		return ProvinceQuotaRaised{}, domain.Invalid("quota", fmt.Sprintf("新的推荐名额须大于现有名额 %d", cur),
			fmt.Sprintf("quota %d is not above %d", quota, cur))
	}
	if err := s.inStage(StageRecommendation, "调整推荐名额"); err != nil {
		return ProvinceQuotaRaised{}, err
	}
	return ProvinceQuotaRaised{Province: province, From: cur, Quota: quota, Reason: reason}, nil
}

// Recommend decides on a province's ranked recommendation, which replaces its
// earlier one: at most its quota, no repeats, none another province recommended,
// before the recommendation deadline.
func (s BatchState) Recommend(province string, apps []string, now time.Time) (ApplicationsRecommended, error) {
	name, known := identity.Provinces[province]
	if !known {
		return ApplicationsRecommended{}, domain.Invalid("province", fmt.Sprintf("省份代码“%s”不存在", province), "unknown province")
	}
	quota := s.ProvinceQuotas[province]
	switch {
	case quota == 0:
		return ApplicationsRecommended{}, domain.Invalid("province", name+"在本任务没有推荐名额（承接意向未填报该任务）",
			"province "+province+" has no quota")
	case len(apps) == 0:
		return ApplicationsRecommended{}, domain.Invalid("applications", "请至少推荐一份申报", "empty recommendation")
	case len(apps) > quota:
		return ApplicationsRecommended{}, domain.Invalid("applications",
			fmt.Sprintf("推荐 %d 份，超过%s的推荐名额 %d 份", len(apps), name, quota),
			fmt.Sprintf("%d recommended over quota %d", len(apps), quota))
	}
	for i, id := range apps {
		field := fmt.Sprintf("applications[%d]", i)
		if strings.TrimSpace(id) == "" {
			return ApplicationsRecommended{}, domain.Invalid(field, fmt.Sprintf("第%d位缺少申报编号", i+1), field+" empty")
		}
		if slices.Contains(apps[:i], id) {
			return ApplicationsRecommended{}, domain.Invalid(field, fmt.Sprintf("申报 %s 重复推荐", id), field+" repeated "+id)
		}
		if a, ok := s.Apps[id]; ok && a.Province != province {
			return ApplicationsRecommended{}, domain.Invalid(field, fmt.Sprintf("申报 %s 已由其他省份推荐", id),
				fmt.Sprintf("%s recommended by %s", id, a.Province))
		}
	}
	if err := s.inStage(StageRecommendation, "推荐"); err != nil {
		return ApplicationsRecommended{}, err
	}
	if err := s.beforeDeadline(now, "推荐"); err != nil {
		return ApplicationsRecommended{}, err
	}
	return ApplicationsRecommended{Province: province, Applications: slices.Clone(apps)}, nil
}

// Qualify decides on the ministry's qualification decisions, many at once.
// Failing or returning needs a reason; a returned application may be corrected
// until now + the correction window. A decision may be changed while the stage
// lasts.
func (s BatchState) Qualify(ds []QualificationDecision, now time.Time) (QualificationDecided, error) {
	if len(ds) == 0 {
		return QualificationDecided{}, domain.Invalid("decisions", "请至少填写一项审核结论", "no decisions")
	}
	out := QualificationDecided{Decisions: make([]QualificationDecision, len(ds))}
	seen := make(map[string]bool, len(ds))
	for i, d := range ds {
		at := fmt.Sprintf("decisions[%d]", i)
		if _, ok := s.Apps[d.Application]; !ok {
			return QualificationDecided{}, domain.Invalid(at+".application", fmt.Sprintf("申报“%s”不在本批次推荐名单中", d.Application),
				at+": not recommended "+d.Application)
		}
		if seen[d.Application] {
			return QualificationDecided{}, domain.Invalid(at+".application", fmt.Sprintf("申报 %s 的审核结论重复", d.Application),
				at+": repeated "+d.Application)
		}
		seen[d.Application] = true
		d.Reason = strings.TrimSpace(d.Reason)
		switch d.Outcome {
		case Passed:
		case Failed, Returned:
			r, err := text(at+".reason", d.Reason, fmt.Sprintf("申报 %s 未通过或退回补正，须填写原因", d.Application))
			if err != nil {
				return QualificationDecided{}, err
			}
			d.Reason = r
		default:
			return QualificationDecided{}, domain.Invalid(at+".outcome", "审核结论须为通过、不通过或退回补正",
				fmt.Sprintf("%s: outcome %q", at, d.Outcome))
		}
		if utf8.RuneCountInString(d.Reason) > MaxTextRunes {
			return QualificationDecided{}, domain.Invalid(at+".reason", fmt.Sprintf("不能超过 %d 字", MaxTextRunes), at+" reason too long")
		}
		d.Until = time.Time{}
		if d.Outcome == Returned {
			d.Until = now.Add(s.CorrectionWindow)
		}
		out.Decisions[i] = d
	}
	if err := s.inStage(StageQualification, "作出资格审核结论"); err != nil {
		return QualificationDecided{}, err
	}
	return out, nil
}

// Resubmit decides on a returned application coming back corrected, within its
// correction window, during qualification review.
func (s BatchState) Resubmit(application string, now time.Time) (CorrectionResubmitted, error) {
	a, ok := s.Apps[application]
	if !ok {
		return CorrectionResubmitted{}, domain.Invalid("application", fmt.Sprintf("申报“%s”不在本批次推荐名单中", application),
			"not recommended "+application)
	}
	if err := s.inStage(StageQualification, "重新提交补正材料"); err != nil {
		return CorrectionResubmitted{}, err
	}
	switch {
	case a.Outcome != Returned:
		return CorrectionResubmitted{}, conflict("该申报未被退回补正，不能重新提交", "resubmit refused: %s is %q", application, a.Outcome)
	case !now.Before(a.Until):
		return CorrectionResubmitted{}, conflict(fmt.Sprintf("补正期限已于 %s 届满，不能重新提交", formatTime(a.Until)),
			"resubmit refused: window ended %s", a.Until)
	}
	return CorrectionResubmitted{Application: application}, nil
}

// Advance is AdvanceOn the embedded holiday calendar (calendar.Default).
func (s BatchState) Advance(from, to Stage, now time.Time) (StageAdvanced, error) {
	return s.AdvanceOn(calendar.Default(), from, to, now)
}

// AdvanceOn decides on the ministry moving the batch from the current stage to
// the next, when what the current stage was for is done; the public notice's
// working days are counted on cal. The public notice ends by Publish, not
// Advance.
func (s BatchState) AdvanceOn(cal *calendar.Calendar, from, to Stage, now time.Time) (StageAdvanced, error) {
	switch {
	case from != s.Stage:
		return StageAdvanced{}, conflict(fmt.Sprintf("批次当前处于%s阶段，而非%s阶段，请刷新后重试", s.Stage.Zh(), from.Zh()),
			"advance refused: stage is %s, not %s", s.Stage, from)
	case s.Stage == StagePublished:
		return StageAdvanced{}, conflict("批次已公布，不能再推进", "advance refused: published")
	case to != from.Next():
		return StageAdvanced{}, domain.Invalid("to", fmt.Sprintf("只能从%s推进到%s", from.Zh(), from.Next().Zh()),
			fmt.Sprintf("advance refused: %s → %s", from, to))
	}
	e := StageAdvanced{From: from, To: to}
	switch from {
	case StageRecommendation:
		if len(s.Apps) == 0 {
			return StageAdvanced{}, conflict("尚无任何省份推荐申报，不能进入资格审核", "advance refused: nothing recommended")
		}
		if now.Before(s.Deadline) {
			for _, p := range slices.Sorted(maps.Keys(s.ProvinceQuotas)) {
				if s.ProvinceQuotas[p] > 0 && len(s.Recommended[p]) == 0 {
					return StageAdvanced{}, conflict(fmt.Sprintf("%s尚未推荐，且推荐截止时间（%s）未到", identity.Provinces[p], formatTime(s.Deadline)),
						"advance refused: %s has not recommended before the deadline", p)
				}
			}
		}
		e.Deadline = now.Add(s.period(StageQualification))
	case StageQualification:
		passed := 0
		for _, id := range s.sortedApps() {
			a := s.Apps[id]
			switch {
			case a.Outcome == Passed:
				passed++
			case a.Outcome == Failed, a.Outcome == Returned && !now.Before(a.Until):
			case a.Outcome == Returned:
				return StageAdvanced{}, conflict(fmt.Sprintf("申报 %s 处于补正期（至 %s），须期满或重新审核后方可进入专家遴选", id, formatTime(a.Until)),
					"advance refused: %s is in its correction window", id)
			default:
				return StageAdvanced{}, conflict(fmt.Sprintf("申报 %s 尚未作出资格审核结论", id), "advance refused: %s undecided", id)
			}
		}
		if passed == 0 {
			return StageAdvanced{}, conflict("没有通过资格审核的申报，不能进入专家遴选", "advance refused: none passed")
		}
		e.Deadline = now.Add(s.period(StageExpertReview))
	case StageExpertReview:
		if s.Confirmed == nil {
			return StageAdvanced{}, conflict("拟遴选名单尚未经部确认，不能进入公示", "advance refused: ranking not confirmed")
		}
		n, err := cal.Notice(now, s.NoticeDays)
		if err != nil {
			return StageAdvanced{}, err
		}
		e.Notice = &NoticePeriod{Start: now, End: n.End, WorkingDays: s.NoticeDays, List: slices.Clone(s.Confirmed)}
		e.Deadline = n.End
	case StageNotice:
		return StageAdvanced{}, conflict("公示结束、异议处理完毕后，请通过“公布”发布名单", "advance refused: use publish")
	}
	return e, nil
}

// Reopen decides on the ministry going back from the current stage to the
// previous one (and only that one), before publication, with a reason. What
// the later stage decided is kept where it stays valid: decisions,
// assignments, scores and adjudications; a confirmed list is not.
func (s BatchState) Reopen(to Stage, reason string, now time.Time) (StageReopened, error) {
	reason, err := text("reason", reason, "请填写退回上一阶段的理由")
	if err != nil {
		return StageReopened{}, err
	}
	switch {
	case s.Stage == StagePublished:
		return StageReopened{}, conflict("批次已公布，不能退回", "reopen refused: published")
	case s.Stage == StageRecommendation:
		return StageReopened{}, conflict("组织推荐是第一个阶段，没有可退回的阶段", "reopen refused: first stage")
	case to != s.Stage.Previous():
		return StageReopened{}, domain.Invalid("stage", fmt.Sprintf("只能从%s退回到%s", s.Stage.Zh(), s.Stage.Previous().Zh()),
			fmt.Sprintf("reopen refused: %s → %s", s.Stage, to))
	}
	return StageReopened{From: s.Stage, To: to, Reason: reason, Deadline: now.Add(s.period(to))}, nil
}

// ExtendDeadline decides on moving the current stage's deadline to t, later
// than both the present deadline and now. Extending the notice extends the
// period in which objections are accepted.
func (s BatchState) ExtendDeadline(stage Stage, t, now time.Time) (StageDeadlineExtended, error) {
	switch {
	case s.Stage == StagePublished:
		return StageDeadlineExtended{}, conflict("批次已公布，不能延期", "extend refused: published")
	case stage != s.Stage:
		return StageDeadlineExtended{}, domain.Invalid("stage", fmt.Sprintf("只能延长当前阶段（%s）的截止时间", s.Stage.Zh()),
			fmt.Sprintf("extend refused: stage %s is not current %s", stage, s.Stage))
	case !t.After(s.Deadline):
		return StageDeadlineExtended{}, domain.Invalid("deadline", fmt.Sprintf("新的截止时间须晚于现截止时间（%s）", formatTime(s.Deadline)),
			fmt.Sprintf("extend refused: %s is not after %s", t, s.Deadline))
	case !t.After(now):
		return StageDeadlineExtended{}, domain.Invalid("deadline", "新的截止时间须晚于当前时间", "extend refused: not after now")
	}
	return StageDeadlineExtended{Stage: stage, Deadline: t}, nil
}

// DeadlinePassed returns the event due when the clock reaches the current
// stage's deadline, once per deadline.
func (s BatchState) DeadlinePassed(now time.Time) (StageDeadlinePassed, bool) {
	if s.Stage == StagePublished || s.Overdue || now.Before(s.Deadline) {
		return StageDeadlinePassed{}, false
	}
	return StageDeadlinePassed{Stage: s.Stage, Deadline: s.Deadline}, true
}

// Unassigned lists, sorted, the applications that passed qualification, are
// still on the list and have no experts yet: what an assignment must staff.
func (s BatchState) Unassigned() []string {
	var out []string
	for _, id := range s.sortedApps() {
		if a := s.Apps[id]; a.Outcome == Passed && !a.Removed && len(a.Experts) == 0 {
			out = append(out, id)
		}
	}
	return out
}

// ExpertLoads counts the applications each expert already reviews, so a later
// assignment (after reopening) stays within their loads.
func (s BatchState) ExpertLoads() map[string]int {
	out := map[string]int{}
	for _, a := range s.Apps {
		for _, i := range a.Experts {
			out[s.Experts[i]]++
		}
	}
	return out
}

// MayAssign refuses an assignment outside expert review or with nothing to staff.
func (s BatchState) MayAssign() error {
	if err := s.inStage(StageExpertReview, "分配评审专家"); err != nil {
		return err
	}
	if len(s.Unassigned()) == 0 {
		return conflict("所有通过资格审核的申报均已分配评审专家", "assign refused: nothing unassigned")
	}
	return nil
}

// SubmitScores decides on an expert's scores: during expert review, before its
// deadline and before the list is confirmed, each for an application the expert
// is assigned to, with one mark per rubric criterion within its full mark.
func (s BatchState) SubmitScores(expert string, scores []ApplicationScores, now time.Time) (ScoresSubmitted, error) {
	if expert == "" {
		return ScoresSubmitted{}, domain.Invalid("expert", "请指定专家", "no expert")
	}
	if len(scores) == 0 {
		return ScoresSubmitted{}, domain.Invalid("scores", "请至少提交一份评分", "no scores")
	}
	ei, known := s.expertIdx(expert)
	for i, sc := range scores {
		at := fmt.Sprintf("scores[%d]", i)
		a, ok := s.Apps[sc.Application]
		if !ok || !known || !slices.Contains(a.Experts, ei) {
			return ScoresSubmitted{}, domain.Invalid(at+".application", fmt.Sprintf("申报“%s”未分配给您评审", sc.Application),
				fmt.Sprintf("%s: %s is not assigned to %s", at, sc.Application, expert))
		}
		if slices.ContainsFunc(scores[:i], func(o ApplicationScores) bool { return o.Application == sc.Application }) {
			return ScoresSubmitted{}, domain.Invalid(at+".application", fmt.Sprintf("申报 %s 的评分重复", sc.Application), at+" repeated")
		}
		if j := slices.Index(a.Experts, ei); s.Panels && a.Declined&bit(j) != 0 {
			return ScoresSubmitted{}, domain.Invalid(at+".application", fmt.Sprintf("您已谢绝评审申报 %s", sc.Application),
				fmt.Sprintf("%s: %s declined %s", at, expert, sc.Application))
		} else if s.Panels && a.Signed&bit(j) == 0 {
			return ScoresSubmitted{}, domain.Invalid(at+".application", fmt.Sprintf("评分前须先签署与申报 %s 无利益冲突的声明", sc.Application),
				fmt.Sprintf("%s: %s has not declared no conflict with %s", at, expert, sc.Application))
		}
		if _, err := s.Rubric.Total(scoring.Scores{Criteria: sc.Criteria}); err != nil {
			if fe, ok := err.(*domain.FieldError); ok {
				return ScoresSubmitted{}, domain.Invalid(at+"."+strings.TrimPrefix(fe.Field, "scores."), fe.Message, at+": "+fe.Detail)
			}
			return ScoresSubmitted{}, err
		}
	}
	if err := s.inStage(StageExpertReview, "评分"); err != nil {
		return ScoresSubmitted{}, err
	}
	if s.Confirmed != nil {
		return ScoresSubmitted{}, conflict("拟遴选名单已确认，不能再修改评分", "scores refused: ranking confirmed")
	}
	if err := s.beforeDeadline(now, "评分"); err != nil {
		return ScoresSubmitted{}, err
	}
	return ScoresSubmitted{Expert: expert, Scores: slices.Clone(scores)}, nil
}

// Ranked lists, sorted, the applications a ranking covers: passed, on the list.
func (s BatchState) Ranked() []string {
	var out []string
	for _, id := range s.sortedApps() {
		if a := s.Apps[id]; a.Outcome == Passed && !a.Removed {
			out = append(out, id)
		}
	}
	return out
}

// MayRank refuses a ranking before every ranked application has all its
// experts' scores.
func (s BatchState) MayRank() error {
	if err := s.inStage(StageExpertReview, "排序"); err != nil {
		return err
	}
	if s.Confirmed != nil {
		return conflict("拟遴选名单已确认", "rank refused: already confirmed")
	}
	ids := s.Ranked()
	if len(ids) == 0 {
		return conflict("没有可排序的申报", "rank refused: nothing to rank")
	}
	for _, id := range ids {
		a := s.Apps[id]
		if len(a.Experts) == 0 {
			return conflict(fmt.Sprintf("申报 %s 尚未分配评审专家", id), "rank refused: %s unassigned", id)
		}
		if n := popcount(a.Scored); n < len(a.Experts) {
			return conflict(fmt.Sprintf("申报 %s 尚有 %d 位专家未评分", id, len(a.Experts)-n), "rank refused: %s has %d of %d scores", id, n, len(a.Experts))
		}
	}
	return nil
}

// RankOptions are the batch's ranking parameters: quota, outlier flag, pass
// scores in the rubric's order and the spread that needs a consensus.
func (s BatchState) RankOptions() scoring.Options {
	o := scoring.Options{Quota: s.Quota, OutlierThreshold: s.OutlierThreshold, PassTotal: s.PassTotal, ConsensusSpread: s.ConsensusSpread}
	if len(s.PassScores) > 0 {
		o.PassCriteria = make([]int, len(s.Rubric.Criteria))
		for i, c := range s.Rubric.Criteria {
			o.PassCriteria[i] = s.PassScores[c.Key]
		}
	}
	return o
}

// RecordConsensus decides on an application's panel recording its agreed
// marks with a rationale: during expert review, before the list is
// confirmed, once every expert of the panel has scored. expert is the panel
// member recording it, or "" for the ministry recording the panel's
// agreement.
func (s BatchState) RecordConsensus(expert, application string, criteria []int, rationale string) (ConsensusRecorded, error) {
	a, ok := s.Apps[application]
	if !ok || a.Outcome != Passed || a.Removed {
		return ConsensusRecorded{}, domain.Invalid("application", fmt.Sprintf("申报“%s”不在本批次评审范围内", application), "no such ranked application "+application)
	}
	if expert != "" {
		if ei, known := s.expertIdx(expert); !known || !slices.Contains(a.Experts, ei) {
			return ConsensusRecorded{}, domain.Invalid("application", fmt.Sprintf("您不是申报“%s”的评审组成员", application),
				fmt.Sprintf("%s is not on the panel of %s", expert, application))
		}
	}
	if _, err := s.Rubric.Total(scoring.Scores{Criteria: criteria}); err != nil {
		if fe, ok := err.(*domain.FieldError); ok {
			return ConsensusRecorded{}, domain.Invalid(strings.TrimPrefix(fe.Field, "scores."), fe.Message, fe.Detail)
		}
		return ConsensusRecorded{}, err
	}
	rationale, err := text("rationale", rationale, "合议评分须附书面理由")
	if err != nil {
		return ConsensusRecorded{}, err
	}
	if err := s.inStage(StageExpertReview, "记录合议评分"); err != nil {
		return ConsensusRecorded{}, err
	}
	switch {
	case s.Confirmed != nil:
		return ConsensusRecorded{}, conflict("拟遴选名单已确认，不能再记录合议评分", "consensus refused: ranking confirmed")
	case len(a.Experts) == 0 || popcount(a.Scored) < len(a.Experts):
		return ConsensusRecorded{}, conflict(fmt.Sprintf("申报 %s 尚有专家未评分，全部评分后方可合议", application),
			"consensus refused: %s not fully scored", application)
	}
	return ConsensusRecorded{Application: application, Criteria: slices.Clone(criteria), Rationale: rationale, Expert: expert}, nil
}

// Overrule decides on the ministry overruling the current proposal for one
// application, with a reason: including one the ranking left out (while a
// place is free) or excluding one it selected. The place an exclusion frees
// stays empty unless the ministry includes another.
func (s BatchState) Overrule(application, decision, reason string) (RankingOverruled, error) {
	a, ok := s.Apps[application]
	if !ok || a.Outcome != Passed || a.Removed {
		return RankingOverruled{}, domain.Invalid("application", fmt.Sprintf("申报“%s”不在本批次排序范围内", application), "not ranked "+application)
	}
	if decision != OverruleInclude && decision != OverruleExclude {
		return RankingOverruled{}, domain.Invalid("decision", "调整决定须为列入或移出", fmt.Sprintf("decision %q", decision))
	}
	reason, err := text("reason", reason, "调整排序结果须填写理由")
	if err != nil {
		return RankingOverruled{}, err
	}
	if err := s.inStage(StageExpertReview, "调整排序结果"); err != nil {
		return RankingOverruled{}, err
	}
	switch {
	case s.Confirmed != nil:
		return RankingOverruled{}, conflict("拟遴选名单已确认，不能再调整", "overrule refused: confirmed")
	case s.Proposed == 0:
		return RankingOverruled{}, conflict("尚未生成排序结果（或其后评分已变更），请先排序", "overrule refused: no current proposal")
	}
	in := slices.Contains(s.Proposal, application)
	list := slices.Clone(s.Proposal)
	switch {
	case decision == OverruleInclude && in:
		return RankingOverruled{}, conflict(fmt.Sprintf("申报 %s 已在拟遴选名单中", application), "overrule refused: %s already selected", application)
	case decision == OverruleInclude && len(list) >= s.Quota:
		return RankingOverruled{}, conflict(fmt.Sprintf("拟遴选名单已满（%d 项），请先移出一项", s.Quota), "overrule refused: list full")
	case decision == OverruleExclude && !in:
		return RankingOverruled{}, conflict(fmt.Sprintf("申报 %s 不在拟遴选名单中", application), "overrule refused: %s not selected", application)
	case decision == OverruleInclude:
		list = append(list, application)
	default:
		list = slices.DeleteFunc(list, func(id string) bool { return id == application })
	}
	if list == nil {
		list = []string{}
	}
	return RankingOverruled{Round: s.Proposed, Application: application, Decision: decision, Reason: reason, Selected: list}, nil
}

// MoveUp decides who moves up (递补) when the objection upheld against
// removed struck it off the notice: the first of the reserve still eligible
// and not on notice, put on notice for the batch's working days from now on
// cal. ok is false when the reserve is exhausted or removed was not on the
// notice list.
func (s BatchState) MoveUp(cal *calendar.Calendar, removed, objection string, now time.Time) (SuccessorNoticed, bool, error) {
	if s.Stage != StageNotice || s.Notice == nil || !slices.Contains(s.Notice.List, removed) {
		return SuccessorNoticed{}, false, nil
	}
	for _, id := range s.Reserve {
		a, ok := s.Apps[id]
		if !ok || a.Outcome != Passed || a.Removed || slices.Contains(s.Notice.List, id) {
			continue
		}
		n, err := cal.Notice(now, s.NoticeDays)
		if err != nil {
			return SuccessorNoticed{}, false, err
		}
		return SuccessorNoticed{Application: id, Replaces: removed, ObjectionID: objection, Start: now, End: n.End, WorkingDays: s.NoticeDays}, true, nil
	}
	return SuccessorNoticed{}, false, nil
}

// noticeEnd is when objections against application stop being accepted: its
// own notice's end if it moved up, the batch's otherwise.
func (s BatchState) noticeEnd(application string) time.Time {
	if end, ok := s.Successors[application]; ok {
		return end
	}
	return s.Notice.End
}

// ConfirmRanking decides on the ministry confirming the proposal of round.
func (s BatchState) ConfirmRanking(round int) (RankingConfirmed, error) {
	if err := s.inStage(StageExpertReview, "确认拟遴选名单"); err != nil {
		return RankingConfirmed{}, err
	}
	switch {
	case s.Confirmed != nil:
		return RankingConfirmed{}, conflict("拟遴选名单已确认", "confirm refused: already confirmed")
	case s.Proposed == 0:
		return RankingConfirmed{}, conflict("尚未生成排序结果（或其后评分已变更），请先排序", "confirm refused: no current proposal")
	case round != s.Proposed:
		return RankingConfirmed{}, conflict("排序结果已更新，请查看最新结果后再确认", "confirm refused: round %d is not the current %d", round, s.Proposed)
	}
	return RankingConfirmed{Round: round, Selected: slices.Clone(s.Proposal)}, nil
}

// FileObjection decides on a real-name objection: during the notice period,
// with the objector's name, contact and grounds, against an application on
// the list.
func (s BatchState) FileObjection(o ObjectionFiled, now time.Time) (ObjectionFiled, error) {
	var err error
	if o.Name, err = text("name", o.Name, "异议须实名提出，请填写姓名"); err != nil {
		return ObjectionFiled{}, err
	}
	if o.Contact, err = text("contact", o.Contact, "请填写联系方式"); err != nil {
		return ObjectionFiled{}, err
	}
	if o.Text, err = text("text", o.Text, "请填写异议内容及理由"); err != nil {
		return ObjectionFiled{}, err
	}
	if strings.TrimSpace(o.ObjectionID) == "" {
		return ObjectionFiled{}, domain.Invalid("objection_id", "缺少异议编号", "no objection id")
	}
	if _, dup := s.Objections[o.ObjectionID]; dup {
		return ObjectionFiled{}, conflict("该异议已受理", "objection %s already filed", o.ObjectionID)
	}
	if err := s.inStage(StageNotice, "提出异议"); err != nil {
		return ObjectionFiled{}, err
	}
	if a, ok := s.Apps[o.Application]; !ok || a.Removed || !slices.Contains(s.Notice.List, o.Application) {
		if !now.Before(s.Notice.End) {
			return ObjectionFiled{}, conflict(fmt.Sprintf("公示期已于 %s 结束，不再受理异议", formatTime(s.Notice.End)),
				"objection refused: notice ended %s", s.Notice.End)
		}
		return ObjectionFiled{}, domain.Invalid("application", fmt.Sprintf("申报“%s”不在公示名单中", o.Application),
			"objection against "+o.Application+" not on the list")
	}
	if end := s.noticeEnd(o.Application); !now.Before(end) {
		return ObjectionFiled{}, conflict(fmt.Sprintf("公示期已于 %s 结束，不再受理异议", formatTime(end)),
			"objection refused: notice ended %s", end)
	}
	return o, nil
}

// Refiled reports whether o repeats an objection already filed under its id,
// as when the public's form is sent twice: it files nothing more, whatever
// the stage or the time. The same id against another application is refused.
func (s BatchState) Refiled(o ObjectionFiled) (bool, error) {
	ob, ok := s.Objections[o.ObjectionID]
	switch {
	case !ok:
		return false, nil
	case ob.Application != o.Application:
		return false, conflict("该异议编号已用于针对另一申报的异议，请重新填写表单",
			"objection %s was filed against %s, not %s", o.ObjectionID, ob.Application, o.Application)
	}
	return true, nil
}

// Adjudicate decides an objection: upheld removes its application from the
// list (and the next-ranked moves up, see MoveUp); either needs a reason.
func (s BatchState) Adjudicate(objection string, outcome Adjudication, reason string) (ObjectionAdjudicated, error) {
	ob, ok := s.Objections[objection]
	if !ok {
		return ObjectionAdjudicated{}, domain.Invalid("objection_id", fmt.Sprintf("异议“%s”不存在", objection), "unknown objection "+objection)
	}
	reason = strings.TrimSpace(reason)
	switch outcome {
	case Upheld:
		if _, err := text("reason", reason, "认定异议成立须填写理由"); err != nil {
			return ObjectionAdjudicated{}, err
		}
	case Dismissed:
		if _, err := text("reason", reason, "驳回异议须填写理由"); err != nil {
			return ObjectionAdjudicated{}, err
		}
	default:
		return ObjectionAdjudicated{}, domain.Invalid("outcome", "处理结论须为异议成立或驳回", fmt.Sprintf("outcome %q", outcome))
	}
	if utf8.RuneCountInString(reason) > MaxTextRunes {
		return ObjectionAdjudicated{}, domain.Invalid("reason", fmt.Sprintf("不能超过 %d 字", MaxTextRunes), "reason too long")
	}
	if err := s.inStage(StageNotice, "处理异议"); err != nil {
		return ObjectionAdjudicated{}, err
	}
	if ob.Outcome != "" {
		return ObjectionAdjudicated{}, conflict("该异议已处理", "objection %s already adjudicated", objection)
	}
	return ObjectionAdjudicated{ObjectionID: objection, Application: ob.Application, Outcome: outcome, Reason: reason}, nil
}

// Publish decides on publishing the final list once the notice period has
// ended and every objection is adjudicated; each listed application becomes a
// project.
func (s BatchState) Publish(now time.Time) (SelectionBatchPublished, []ProjectCreated, error) {
	if s.Stage == StagePublished {
		return SelectionBatchPublished{}, nil, conflict("批次已公布", "publish refused: already published")
	}
	if err := s.inStage(StageNotice, "公布"); err != nil {
		return SelectionBatchPublished{}, nil, err
	}
	if now.Before(s.Notice.End) {
		return SelectionBatchPublished{}, nil, conflict(fmt.Sprintf("公示期至 %s 结束，期满后方可公布", formatTime(s.Notice.End)),
			"publish refused: notice ends %s", s.Notice.End)
	}
	for _, id := range slices.Sorted(maps.Keys(s.Successors)) {
		if end := s.Successors[id]; now.Before(end) && !s.Apps[id].Removed {
			return SelectionBatchPublished{}, nil, conflict(fmt.Sprintf("递补申报 %s 的公示期至 %s 结束，期满后方可公布", id, formatTime(end)),
				"publish refused: successor %s on notice until %s", id, end)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(s.Objections)) {
		if s.Objections[id].Outcome == "" {
			return SelectionBatchPublished{}, nil, conflict(fmt.Sprintf("异议 %s 尚未处理，处理完毕后方可公布", id), "publish refused: objection %s pending", id)
		}
	}
	pub := SelectionBatchPublished{List: []string{}}
	var projects []ProjectCreated
	for _, id := range s.Notice.List {
		if s.Apps[id].Removed {
			continue
		}
		pub.List = append(pub.List, id)
		projects = append(projects, ProjectCreated{
			ProjectID: ProjectID(s.BatchID, id), BatchID: s.BatchID, TaskItem: s.TaskItem, TaskType: s.TaskType,
			Application: id, Province: s.Apps[id].Province, Rank: len(pub.List),
		})
	}
	return pub, projects, nil
}

func (s BatchState) sortedApps() []string { return slices.Sorted(maps.Keys(s.Apps)) }

func (s *BatchState) expertIdx(id string) (int, bool) {
	if s.expertIndex == nil || len(s.expertIndex) != len(s.Experts) {
		s.expertIndex = make(map[string]int, len(s.Experts))
		for i, e := range s.Experts {
			s.expertIndex[e] = i
		}
	}
	i, ok := s.expertIndex[id]
	return i, ok
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// Apply moves the state on by one of the batch's event payloads (as a value).
func (s *BatchState) Apply(event any) error {
	switch e := event.(type) {
	case SelectionBatchOpened, ProjectCreated:
	case ProvinceQuotaRaised:
		s.ProvinceQuotas[e.Province] = e.Quota
	case ApplicationsRecommended:
		for _, id := range s.Recommended[e.Province] {
			delete(s.Apps, id)
		}
		for i, id := range e.Applications {
			s.Apps[id] = AppState{Province: e.Province, Rank: i + 1}
		}
		s.Recommended[e.Province] = slices.Clone(e.Applications)
	case QualificationDecided:
		for _, d := range e.Decisions {
			a, ok := s.Apps[d.Application]
			if !ok {
				return fmt.Errorf("apply to batch %s: unknown application %q", s.BatchID, d.Application)
			}
			a.Outcome, a.Until = d.Outcome, d.Until
			s.Apps[d.Application] = a
		}
	case CorrectionResubmitted:
		a := s.Apps[e.Application]
		a.Outcome, a.Until, a.Resubmitted = "", time.Time{}, true
		s.Apps[e.Application] = a
	case NoConflictDeclared, AssignmentDeclined, ExpertsReplaced, ScoringReminderDue, ExpertsSilent:
		return s.applyPanel(e)
	case StageAdvanced:
		s.Stage, s.Deadline, s.Overdue, s.Reminded = e.To, e.Deadline, false, 0
		if e.Notice != nil {
			n := *e.Notice
			s.Notice = &n
		}
	case StageReopened:
		s.Stage, s.Deadline, s.Overdue, s.Reminded = e.To, e.Deadline, false, 0
		switch e.From {
		case StageExpertReview:
			s.Proposal, s.Proposed, s.Confirmed, s.Reserve = nil, 0, nil, nil
		case StageNotice:
			s.Notice, s.Confirmed, s.Successors = nil, nil, nil
		}
	case StageDeadlineExtended:
		s.Deadline, s.Overdue, s.Reminded = e.Deadline, false, 0
		if s.Stage == StageNotice && s.Notice != nil {
			s.Notice.End = e.Deadline
		}
	case StageDeadlinePassed:
		s.Overdue = true
	case ExpertsAssigned:
		s.AssignRound = max(s.AssignRound, e.Round)
		for _, as := range e.Assignments {
			a, ok := s.Apps[as.Application]
			if !ok {
				return fmt.Errorf("apply to batch %s: unknown application %q", s.BatchID, as.Application)
			}
			a.Experts, a.Scored, a.Signed, a.Declined = make([]int, len(as.Experts)), 0, 0, 0
			for j, ex := range as.Experts {
				i, ok := s.expertIdx(ex)
				if !ok {
					s.Experts = append(s.Experts, ex)
					i = len(s.Experts) - 1
					s.expertIndex[ex] = i
				}
				a.Experts[j] = i
			}
			s.Apps[as.Application] = a
		}
	case ScoresSubmitted:
		ei, ok := s.expertIdx(e.Expert)
		if !ok {
			return fmt.Errorf("apply to batch %s: unknown expert %q", s.BatchID, e.Expert)
		}
		for _, sc := range e.Scores {
			a := s.Apps[sc.Application]
			if j := slices.Index(a.Experts, ei); j >= 0 {
				a.Scored |= 1 << j
			}
			a.Consensus = false // agreed on scores that changed
			s.Apps[sc.Application] = a
		}
		// A proposal made before these scores no longer reflects them.
		s.Proposal, s.Proposed, s.Reserve = nil, 0, nil
	case ConsensusRecorded:
		a := s.Apps[e.Application]
		a.Consensus = true
		s.Apps[e.Application] = a
		s.Proposal, s.Proposed, s.Reserve = nil, 0, nil
	case RankingProposed:
		s.Proposed, s.Proposal, s.Reserve = e.Round, slices.Clone(e.Selected), slices.Clone(e.Reserve)
	case RankingOverruled:
		s.Proposal = slices.Clone(e.Selected)
		s.Reserve = slices.DeleteFunc(slices.Clone(s.Reserve), func(id string) bool { return id == e.Application })
	case SuccessorNoticed:
		if s.Notice == nil {
			return fmt.Errorf("apply to batch %s: successor %q without a notice", s.BatchID, e.Application)
		}
		n := *s.Notice
		n.List = append(slices.Clone(n.List), e.Application)
		s.Notice = &n
		if s.Successors == nil {
			s.Successors = map[string]time.Time{}
		}
		s.Successors[e.Application] = e.End
		s.Reserve = slices.DeleteFunc(slices.Clone(s.Reserve), func(id string) bool { return id == e.Application })
		if e.End.After(s.Deadline) {
			s.Deadline, s.Overdue = e.End, false
		}
	case RankingConfirmed:
		s.Confirmed = slices.Clone(e.Selected)
		if s.Confirmed == nil {
			s.Confirmed = []string{}
		}
	case ObjectionFiled:
		s.Objections[e.ObjectionID] = ObjectionState{Application: e.Application}
	case ObjectionAdjudicated:
		s.Objections[e.ObjectionID] = ObjectionState{Application: e.Application, Outcome: e.Outcome}
		if e.Outcome == Upheld {
			a := s.Apps[e.Application]
			a.Removed = true
			s.Apps[e.Application] = a
		}
	case SelectionBatchPublished:
		s.Stage, s.Published, s.Overdue = StagePublished, slices.Clone(e.List), false
	default:
		return fmt.Errorf("apply to batch %s: unexpected event %T", s.BatchID, event)
	}
	return nil
}

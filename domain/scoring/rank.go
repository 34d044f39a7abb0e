package scoring

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"keytask/domain"
	"keytask/domain/calendar"
)

// Review is one expert's scoring of an application.
type Review struct {
	Expert string `json:"expert"`
	Scores Scores `json:"scores"`
}

// Application is an application with its reviews, to be ranked.
type Application struct {
	ID        string    `json:"id"`
	Submitted time.Time `json:"submitted"` // when the school submitted it; tie-break rule 4
	Reviews   []Review  `json:"reviews"`
	// Consensus is the panel's agreed marks, recorded after its members
	// disagreed; when set it is the application's score, and the reviews are
	// kept beside it.
	Consensus *Consensus `json:"consensus,omitempty"`
}

// Consensus is a panel's agreed marks (合议评分) with its written rationale.
type Consensus struct {
	Criteria  []int  `json:"criteria"`
	Rationale string `json:"rationale"`
}

// ExpertTotal is one expert's weighted total for an application.
type ExpertTotal struct {
	Expert string `json:"expert"`
	Total  Points `json:"total"`
}

// Summary is an application's scores taken together.
type Summary struct {
	Application string        `json:"application"`
	Submitted   time.Time     `json:"submitted"`
	Totals      []ExpertTotal `json:"totals"`   // by expert id
	Mean        Points        `json:"mean"`     // of the weighted totals: rule 1
	Median      Points        `json:"median"`   // of the weighted totals, the mean of the middle two for an even count: rule 2
	Criteria    []Points      `json:"criteria"` // mean mark per criterion, in the rubric's order
	Lead        Points        `json:"lead"`     // the mean mark on the first-weighted criterion: rule 3
	Spread      Points        `json:"spread"`   // highest total minus lowest
	// Outlier flags experts disagreeing by more than the threshold, for the
	// ministry to look at; it never changes the ranking.
	Outlier   bool   `json:"outlier"`
	OutlierZh string `json:"outlier_zh,omitempty"` // why Outlier, in Simplified Chinese
	OutlierEn string `json:"outlier_en,omitempty"`
	// Consensus is set when the panel's agreed marks replaced the mean: then
	// Mean, Median, Criteria and Lead are the consensus's.
	Consensus *AgreedScore `json:"consensus,omitempty"`
}

// AgreedScore is a consensus as the ranking used it.
type AgreedScore struct {
	Total     Points `json:"total"`
	Rationale string `json:"rationale"`
}

// Summarize takes an application's reviews together under rubric r, flagging
// disagreement above threshold points (1..100). It returns a *domain.FieldError
// naming the field: rubric.criteria[i]..., outlier_threshold, id, submitted,
// reviews, reviews[j].expert or reviews[j].scores.criteria[k].
func Summarize(r Rubric, a Application, threshold int) (Summary, error) {
	c, err := r.compile()
	if err != nil {
		return Summary{}, prefixed("rubric.", err)
	}
	if err := checkThreshold(threshold); err != nil {
		return Summary{}, err
	}
	return c.summarize(a, threshold)
}

func checkThreshold(threshold int) error {
	if threshold < 1 || threshold > 100 {
		return domain.Invalid("outlier_threshold", "评分差异阈值应为 1 至 100 分的整数", fmt.Sprintf("outlier threshold %d outside 1..100", threshold))
	}
	return nil
}

func (c *compiled) summarize(a Application, threshold int) (Summary, error) {
	switch {
	case a.ID == "":
		return Summary{}, domain.Invalid("id", "申报编号不能为空", "empty application id")
	case a.Submitted.IsZero():
		return Summary{}, domain.Invalid("submitted", "申报提交时间不能为空：并列时按提交时间排序", "zero submission time")
	case len(a.Reviews) == 0:
		return Summary{}, domain.Invalid("reviews", fmt.Sprintf("申报 %s 尚无专家评分", a.ID), "no reviews")
	}
	type sheet struct {
		expert string
		n      int64 // the weighted total in 1/den points
	}
	sheets := make([]sheet, 0, len(a.Reviews))
	seen := map[string]int{}
	marks := make([]int64, len(c.Criteria))
	var sum int64
	for j, rv := range a.Reviews {
		f := fmt.Sprintf("reviews[%d].", j)
		if rv.Expert == "" {
			return Summary{}, domain.Invalid(f+"expert", "评分专家不能为空", "empty expert")
		}
		if k, dup := seen[rv.Expert]; dup {
			return Summary{}, domain.Invalid(f+"expert", fmt.Sprintf("专家 %s 对申报 %s 重复评分（与第 %d 份相同）", rv.Expert, a.ID, k+1),
				fmt.Sprintf("expert %s reviews %s twice (reviews[%d])", rv.Expert, a.ID, k))
		}
		seen[rv.Expert] = j
		n, err := c.total(rv.Scores)
		if err != nil {
			return Summary{}, prefixed(f, err)
		}
		for i, v := range rv.Scores.Criteria {
			marks[i] += int64(v)
		}
		sheets = append(sheets, sheet{rv.Expert, n})
		sum += n
	}
	k := int64(len(sheets))
	s := Summary{Application: a.ID, Submitted: a.Submitted, Mean: newPoints(sum, k*c.den)}
	slices.SortFunc(sheets, func(x, y sheet) int { return cmp.Compare(x.expert, y.expert) })
	for _, sh := range sheets {
		s.Totals = append(s.Totals, ExpertTotal{sh.expert, newPoints(sh.n, c.den)})
	}
	for _, m := range marks {
		s.Criteria = append(s.Criteria, newPoints(m, k))
	}
	s.Lead = s.Criteria[c.lead]
	slices.SortFunc(sheets, func(x, y sheet) int { return cmp.Compare(x.n, y.n) })
	if mid := len(sheets) / 2; len(sheets)%2 == 1 {
		s.Median = newPoints(sheets[mid].n, c.den)
	} else {
		s.Median = newPoints(sheets[mid-1].n+sheets[mid].n, 2*c.den)
	}
	lo, hi := sheets[0], sheets[len(sheets)-1]
	s.Spread = newPoints(hi.n-lo.n, c.den)
	if hi.n-lo.n > int64(threshold)*c.den {
		s.Outlier = true
		s.OutlierZh = fmt.Sprintf("专家评分差异过大：最高 %s（%s）与最低 %s（%s）相差 %s 分，超过阈值 %d 分，请复核",
			newPoints(hi.n, c.den), hi.expert, newPoints(lo.n, c.den), lo.expert, s.Spread, threshold)
		s.OutlierEn = fmt.Sprintf("experts disagree: highest %s (%s) and lowest %s (%s) differ by %s, above the threshold of %d",
			newPoints(hi.n, c.den), hi.expert, newPoints(lo.n, c.den), lo.expert, s.Spread, threshold)
	}
	if a.Consensus != nil {
		if strings.TrimSpace(a.Consensus.Rationale) == "" {
			return Summary{}, domain.Invalid("consensus.rationale", fmt.Sprintf("申报 %s 的合议评分须附书面理由", a.ID), "consensus without a rationale")
		}
		n, err := c.total(Scores{Criteria: a.Consensus.Criteria})
		if err != nil {
			return Summary{}, prefixed("consensus.", err)
		}
		t := newPoints(n, c.den)
		s.Mean, s.Median = t, t
		s.Criteria = s.Criteria[:0]
		for _, v := range a.Consensus.Criteria {
			s.Criteria = append(s.Criteria, newPoints(int64(v), 1))
		}
		s.Lead = s.Criteria[c.lead]
		s.Consensus = &AgreedScore{Total: t, Rationale: a.Consensus.Rationale}
	}
	return s, nil
}

// prefixed puts prefix before a field error's field, so that an error found in a
// part names its place in the whole.
func prefixed(prefix string, err error) error {
	var fe *domain.FieldError
	if errors.As(err, &fe) {
		return domain.Invalid(prefix+fe.Field, fe.Message, fe.Detail)
	}
	return err
}

// Rule is one rule of the ranking order; they apply in the order of Rules().
type Rule string

// The ranking rules, in the order they apply: each decides only between
// applications that every earlier rule leaves tied, and the last never ties.
const (
	RuleMean      Rule = "mean"      // 1. the higher mean of the weighted totals first
	RuleMedian    Rule = "median"    // 2. the higher median first
	RuleLead      Rule = "lead"      // 3. the higher mean mark on the first-weighted criterion first
	RuleSubmitted Rule = "submitted" // 4. the earlier submission first
	RuleID        Rule = "id"        // 5. the smaller application id (byte order) first
)

// Rules returns the ranking rules in the order they apply.
func Rules() []Rule { return []Rule{RuleMean, RuleMedian, RuleLead, RuleSubmitted, RuleID} }

var ruleZh = map[Rule]string{
	RuleMean:      "规则1「平均分高者在前」",
	RuleMedian:    "规则2「中位数高者在前」",
	RuleLead:      "规则3「权重最高评分项平均得分高者在前」",
	RuleSubmitted: "规则4「申报提交时间早者在前」",
	RuleID:        "规则5「申报编号小者在前」",
}

var ruleEn = map[Rule]string{
	RuleMean:      "rule 1 (higher mean total first)",
	RuleMedian:    "rule 2 (higher median total first)",
	RuleLead:      "rule 3 (higher mean mark on the first-weighted criterion first)",
	RuleSubmitted: "rule 4 (earlier submission first)",
	RuleID:        "rule 5 (smaller application id first)",
}

// Zh returns the rule as the ranking records it, in Simplified Chinese.
func (r Rule) Zh() string { return ruleZh[r] }

// En returns the rule in English.
func (r Rule) En() string { return ruleEn[r] }

// RuleText is a rule as a ranking records it.
type RuleText struct {
	Rule Rule   `json:"rule"`
	Zh   string `json:"zh"`
	En   string `json:"en"`
}

// Options are a ranking's parameters.
type Options struct {
	Quota            int `json:"quota"`             // how many applications the batch selects
	OutlierThreshold int `json:"outlier_threshold"` // points of disagreement that flag an application
	// PassTotal is the overall pass score out of 100 and PassCriteria the
	// pass mark per criterion in the rubric's order (0 = none): an
	// application below either is never selected, however many places are
	// free.
	PassTotal    int   `json:"pass_total,omitempty"`
	PassCriteria []int `json:"pass_criteria,omitempty"`
	// ConsensusSpread, when positive, is the spread of the experts' totals
	// above which the panel must record a consensus before ranking.
	ConsensusSpread int `json:"consensus_spread,omitempty"`
}

// Ranked is one application's place in a ranking.
type Ranked struct {
	Rank int `json:"rank"` // 1-based; every place is distinct
	Summary
	// DecidedBy is the rule that placed this application after the one ranked
	// just above it; empty for the first.
	DecidedBy Rule   `json:"decided_by,omitempty"`
	Why       string `json:"why"`    // in Simplified Chinese
	WhyEn     string `json:"why_en"` // in English
	Selected  bool   `json:"selected"`
	// BelowPass is set when the application misses a pass score; PassZh and
	// PassEn say which.
	BelowPass bool   `json:"below_pass,omitempty"`
	PassZh    string `json:"pass_zh,omitempty"`
	PassEn    string `json:"pass_en,omitempty"`
}

// Cut records how the quota line fell.
type Cut struct {
	LastIn    string `json:"last_in"`    // the last application selected
	FirstOut  string `json:"first_out"`  // the first application not selected
	DecidedBy Rule   `json:"decided_by"` // the rule that put LastIn before FirstOut
	Zh        string `json:"zh"`
	En        string `json:"en"`
}

// Ranking is the ranking of one task type's applications, cut at the quota.
//
// Ties at the cut line are decided by the same rules as every other tie, and
// the rule that decided is recorded in Cut: the ranking never leaves places
// pending (待定). The ministry may still overrule it for an application, only
// with a reason (selection.RankingOverruled), which the result's explanation
// shows beside the ranking.
type Ranking struct {
	TaskType string     `json:"task_type"`
	Quota    int        `json:"quota"`
	Rules    []RuleText `json:"rules"` // the rules applied, in order: the ranking explains itself
	Entries  []Ranked   `json:"entries"`
	Cut      *Cut       `json:"cut,omitempty"` // nil when the quota selects all or none
	// Vacant counts the quota's places left empty because too few
	// applications reached the pass scores.
	Vacant   int    `json:"vacant,omitempty"`
	VacantZh string `json:"vacant_zh,omitempty"`
}

// Rank summarises each application under rubric r and ranks them by Rules,
// selecting the first o.Quota that reach the pass scores. It refuses with a
// *domain.ConflictError (field consensus) while a panel disagrees beyond
// o.ConsensusSpread without a recorded consensus. It returns a *domain.FieldError naming the
// field: rubric.criteria[i]..., quota, outlier_threshold, or
// applications[i].id, .submitted, .reviews[j].expert,
// .reviews[j].scores.criteria[k].
func Rank(r Rubric, apps []Application, o Options) (Ranking, error) {
	c, err := r.compile()
	if err != nil {
		return Ranking{}, prefixed("rubric.", err)
	}
	if o.Quota < 0 {
		return Ranking{}, domain.Invalid("quota", "入选名额不能为负数", fmt.Sprintf("quota %d is negative", o.Quota))
	}
	if err := checkThreshold(o.OutlierThreshold); err != nil {
		return Ranking{}, err
	}
	if err := checkPass(r, o); err != nil {
		return Ranking{}, err
	}
	rk := Ranking{TaskType: r.TaskType, Quota: o.Quota}
	leadName := r.Criteria[c.lead].Name
	for _, rule := range Rules() {
		rt := RuleText{Rule: rule, Zh: rule.Zh(), En: rule.En()}
		if rule == RuleLead {
			rt.Zh = fmt.Sprintf("规则3「权重最高评分项“%s”平均得分高者在前」", leadName)
			rt.En = fmt.Sprintf("rule 3 (higher mean mark on the first-weighted criterion %q first)", leadName)
		}
		rk.Rules = append(rk.Rules, rt)
	}
	seen := map[string]int{}
	for i, a := range apps {
		f := fmt.Sprintf("applications[%d].", i)
		if j, dup := seen[a.ID]; dup && a.ID != "" {
			return Ranking{}, domain.Invalid(f+"id", fmt.Sprintf("申报编号 %s 重复（与第 %d 项相同）", a.ID, j+1),
				fmt.Sprintf("application id %s repeats applications[%d]", a.ID, j))
		}
		seen[a.ID] = i
		s, err := c.summarize(a, o.OutlierThreshold)
		if err != nil {
			return Ranking{}, prefixed(f, err)
		}
		rk.Entries = append(rk.Entries, Ranked{Summary: s})
	}
	if err := consensusMissing(rk.Entries, o.ConsensusSpread); err != nil {
		return Ranking{}, err
	}
	slices.SortFunc(rk.Entries, func(x, y Ranked) int {
		_, order := decide(&x.Summary, &y.Summary)
		return order
	})
	eligible := 0
	for i := range rk.Entries {
		e := &rk.Entries[i]
		e.Rank = i + 1
		e.BelowPass, e.PassZh, e.PassEn = belowPass(r, o, &e.Summary)
		if !e.BelowPass {
			e.Selected = eligible < o.Quota
			eligible++
		}
		if i == 0 {
			e.Why = fmt.Sprintf("第 1 名：平均分 %s", e.Mean)
			e.WhyEn = fmt.Sprintf("first: mean %s", e.Mean)
			continue
		}
		above := &rk.Entries[i-1]
		e.DecidedBy, _ = decide(&above.Summary, &e.Summary)
		e.Why, e.WhyEn = because(&above.Summary, &e.Summary, e.DecidedBy, leadName)
	}
	if eligible < o.Quota {
		rk.Vacant = o.Quota - eligible
		rk.VacantZh = fmt.Sprintf("入选名额 %d 项，达到及格分数线的申报仅 %d 项，%d 个名额空缺：低于及格分数线的申报不入选", o.Quota, eligible, rk.Vacant)
	}
	// The cut line falls between the last selected and the first eligible
	// application left out; those below a pass score are out by their scores.
	var selected []int
	firstOut := -1
	for i, e := range rk.Entries {
		switch {
		case e.Selected:
			selected = append(selected, i)
		case !e.BelowPass && firstOut < 0:
			firstOut = i
		}
	}
	if q := o.Quota; q > 0 && len(selected) == q && firstOut >= 0 && !passed(o) {
		in, out := &rk.Entries[q-1], &rk.Entries[q]
		zh, en := because(&in.Summary, &out.Summary, out.DecidedBy, leadName)
		rk.Cut = &Cut{LastIn: in.Application, FirstOut: out.Application, DecidedBy: out.DecidedBy}
		rk.Cut.Zh = fmt.Sprintf("入选名额 %d 项：第 %d 名 %s 入选，第 %d 名 %s 未入选。%s", q, q, in.Application, q+1, out.Application, zh)
		rk.Cut.En = fmt.Sprintf("quota %d: #%d %s is selected, #%d %s is not. %s", q, q, in.Application, q+1, out.Application, en)
		if out.DecidedBy != RuleMean {
			rk.Cut.Zh += "。分数线上的并列按排序规则决定，不设待定"
			rk.Cut.En += ". A tie at the cut line is decided by the ranking rules; nothing is left pending"
		}
	} else if q > 0 && len(selected) == q && firstOut >= 0 {
		in, out := &rk.Entries[selected[q-1]], &rk.Entries[firstOut]
		rk.Cut = &Cut{LastIn: in.Application, FirstOut: out.Application, DecidedBy: RuleMean}
		if d, _ := decide(&in.Summary, &out.Summary); d != "" {
			rk.Cut.DecidedBy = d
		}
		zh, en := because(&in.Summary, &out.Summary, rk.Cut.DecidedBy, leadName)
		rk.Cut.Zh = fmt.Sprintf("入选名额 %d 项：达到及格分数线的申报中，第 %d 名 %s 入选，第 %d 名 %s 未入选。%s", q, in.Rank, in.Application, out.Rank, out.Application, zh)
		rk.Cut.En = fmt.Sprintf("quota %d: among applications at or above the pass scores, #%d %s is selected, #%d %s is not. %s", q, in.Rank, in.Application, out.Rank, out.Application, en)
	}
	return rk, nil
}

// passed reports whether o sets any pass score.
func passed(o Options) bool {
	if o.PassTotal > 0 {
		return true
	}
	return slices.ContainsFunc(o.PassCriteria, func(v int) bool { return v > 0 })
}

func checkPass(r Rubric, o Options) error {
	if o.PassTotal < 0 || o.PassTotal > 100 {
		return domain.Invalid("pass_total", "总分及格线须在 0 到 100 分之间", fmt.Sprintf("pass total %d outside 0..100", o.PassTotal))
	}
	if o.PassCriteria != nil && len(o.PassCriteria) != len(r.Criteria) {
		return domain.Invalid("pass_criteria", fmt.Sprintf("评分项及格线数量应为 %d", len(r.Criteria)),
			fmt.Sprintf("%d pass marks for %d criteria", len(o.PassCriteria), len(r.Criteria)))
	}
	for i, v := range o.PassCriteria {
		if v < 0 || v > r.Criteria[i].Max {
			return domain.Invalid(fmt.Sprintf("pass_criteria[%d]", i), fmt.Sprintf("“%s”及格线须在 0 到该项满分 %d 之间", r.Criteria[i].Name, r.Criteria[i].Max),
				fmt.Sprintf("pass mark %d for %s outside 0..%d", v, r.Criteria[i].Key, r.Criteria[i].Max))
		}
	}
	if o.ConsensusSpread < 0 || o.ConsensusSpread > 100 {
		return domain.Invalid("consensus_spread", "须合议的评分差异须在 0 到 100 分之间", fmt.Sprintf("consensus spread %d outside 0..100", o.ConsensusSpread))
	}
	return nil
}

// belowPass says whether s misses a pass score of o, and which, in both
// languages; the first miss is named.
func belowPass(r Rubric, o Options, s *Summary) (bool, string, string) {
	if o.PassTotal > 0 && s.Mean.Cmp(newPoints(int64(o.PassTotal), 1)) < 0 {
		return true, fmt.Sprintf("得分 %s 低于总分及格线 %d 分，不入选", s.Mean, o.PassTotal),
			fmt.Sprintf("score %s below the pass total %d: not selected", s.Mean, o.PassTotal)
	}
	for i, v := range o.PassCriteria {
		if v > 0 && i < len(s.Criteria) && s.Criteria[i].Cmp(newPoints(int64(v), 1)) < 0 {
			return true, fmt.Sprintf("“%s”得分 %s 低于该项及格线 %d 分，不入选", r.Criteria[i].Name, s.Criteria[i], v),
				fmt.Sprintf("mark %s on %q below its pass mark %d: not selected", s.Criteria[i], r.Criteria[i].Key, v)
		}
	}
	return false, "", ""
}

// consensusMissing refuses a ranking while a panel disagrees by more than
// spread points (when positive) and has recorded no consensus.
func consensusMissing(entries []Ranked, spread int) error {
	if spread <= 0 {
		return nil
	}
	var ids []string
	for _, e := range entries {
		if e.Consensus == nil && e.Spread.Cmp(newPoints(int64(spread), 1)) > 0 {
			ids = append(ids, e.Application)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	shown := ids
	if len(shown) > 10 {
		shown = shown[:10]
	}
	msg := fmt.Sprintf("以下申报的专家评分差异超过 %d 分，须由评审组记录合议评分及理由后方可排序：%s", spread, strings.Join(shown, "、"))
	if len(ids) > len(shown) {
		msg += fmt.Sprintf(" 等 %d 项", len(ids))
	}
	return domain.Conflict("consensus", msg, fmt.Sprintf("%d applications need a consensus (spread above %d): %s", len(ids), spread, strings.Join(shown, ", ")))
}

// decide returns the first rule that tells a and b apart and the order it puts
// them in: negative when a ranks first.
func decide(a, b *Summary) (Rule, int) {
	if c := b.Mean.Cmp(a.Mean); c != 0 {
		return RuleMean, c
	}
	if c := b.Median.Cmp(a.Median); c != 0 {
		return RuleMedian, c
	}
	if c := b.Lead.Cmp(a.Lead); c != 0 {
		return RuleLead, c
	}
	if c := a.Submitted.Compare(b.Submitted); c != 0 {
		return RuleSubmitted, c
	}
	return RuleID, cmp.Compare(a.Application, b.Application)
}

// because explains, in both languages, why b ranks right after a.
func because(a, b *Summary, rule Rule, leadName string) (string, string) {
	var zh, en string
	switch rule {
	case RuleMean:
		x, y := shown(b.Mean, a.Mean)
		xe, ye := shownEn(b.Mean, a.Mean)
		return fmt.Sprintf("按%s：平均分 %s 低于上一名 %s 的 %s", rule.Zh(), x, a.Application, y),
			fmt.Sprintf("by %s: mean %s below %s of %s ranked above", rule.En(), xe, ye, a.Application)
	case RuleMedian:
		x, y := shown(b.Median, a.Median)
		xe, ye := shownEn(b.Median, a.Median)
		zh = fmt.Sprintf("中位数 %s 低于其 %s", x, y)
		en = fmt.Sprintf("median %s below its %s", xe, ye)
	case RuleLead:
		x, y := shown(b.Lead, a.Lead)
		xe, ye := shownEn(b.Lead, a.Lead)
		zh = fmt.Sprintf("中位数亦相同，权重最高评分项“%s”平均得分 %s 低于其 %s", leadName, x, y)
		en = fmt.Sprintf("equal medians too; mean mark on %q %s below its %s", leadName, xe, ye)
	case RuleSubmitted:
		zh = fmt.Sprintf("中位数与权重最高评分项“%s”平均得分亦相同，提交时间 %s 晚于其 %s", leadName, when(b.Submitted), when(a.Submitted))
		en = fmt.Sprintf("equal medians and mean marks on %q too; submitted %s, after its %s", leadName, when(b.Submitted), when(a.Submitted))
	case RuleID:
		zh = fmt.Sprintf("中位数、权重最高评分项“%s”平均得分与提交时间亦相同，申报编号 %s 排在 %s 之后", leadName, b.Application, a.Application)
		en = fmt.Sprintf("equal medians, mean marks on %q and submission times too; id %s sorts after %s", leadName, b.Application, a.Application)
	}
	return fmt.Sprintf("按%s：平均分与上一名 %s 相同（%s），%s", rule.Zh(), a.Application, a.Mean, zh),
		fmt.Sprintf("by %s: same mean as %s ranked above (%s); %s", rule.En(), a.Application, a.Mean, en)
}

// when shows an instant in Asia/Shanghai, to the second, as the record needs.
func when(t time.Time) string { return t.In(calendar.Shanghai).Format("2006-01-02 15:04:05") }

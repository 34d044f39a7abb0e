package performance

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/intent"
)

// ReportInput is a performance report as a school sends it. Values stay raw
// JSON until Validate reads them, so that a wrong type is reported against the
// exact field that carries it.
type ReportInput struct {
	// Planned is the money the project's plan puts in this year, per funding
	// source (计划投入), in 万元; Spent is what was actually spent (实际投入).
	Planned map[string]json.RawMessage `json:"planned,omitempty"`
	Spent   map[string]json.RawMessage `json:"spent,omitempty"`
	// Indicators are the task type's indicators (see the catalogue), by key.
	Indicators map[string]json.RawMessage `json:"indicators,omitempty"`
	// Summary is the year's progress in the school's words (年度建设进展).
	Summary string `json:"summary,omitempty"`
	// Deviation explains a source spent above its plan (偏差说明); required to
	// submit when any source is.
	Deviation string `json:"deviation,omitempty"`
}

// Report is a validated report: money in yuan, every total computed here.
type Report struct {
	Planned      intent.Funds     `json:"planned"`
	PlannedTotal intent.Yuan      `json:"planned_total"`
	Spent        intent.Funds     `json:"spent"`
	SpentTotal   intent.Yuan      `json:"spent_total"`
	Indicators   map[string]int64 `json:"indicators"`
	Summary      string           `json:"summary,omitempty"`
	Deviation    string           `json:"deviation,omitempty"`
}

// Bounds of the texts.
const (
	MaxSummaryRunes   = 2000
	MaxDeviationRunes = 1000
	MaxReasonRunes    = 500
)

// Validate reads a report against its task type's indicators. A draft
// (complete false) is checked for form only; a submission must also be
// complete: every source's plan and spending (0 is an answer), every required
// indicator, the summary, and a deviation note when a source is overspent.
// Fields are checked in the order planned, spent (sources in the order of the
// form), indicators (catalogue order, then unknown keys sorted), summary,
// deviation; the first mistake comes back as a *domain.FieldError naming its
// JSON path ("spent.school", "indicators.students_enrolled").
func Validate(cat Catalogue, taskType string, in ReportInput, complete bool) (Report, error) {
	tt, ok := cat.For(taskType)
	if !ok {
		return Report{}, domain.Invalid("task_type", fmt.Sprintf("任务类型“%s”没有绩效指标目录，无法填报", clip(taskType)),
			fmt.Sprintf("no indicators for task type %q", taskType))
	}
	var r Report
	var err error
	if r.Planned, r.PlannedTotal, err = readFunds("planned", "计划投入", in.Planned, complete); err != nil {
		return Report{}, err
	}
	if r.Spent, r.SpentTotal, err = readFunds("spent", "实际投入", in.Spent, complete); err != nil {
		return Report{}, err
	}
	if r.Indicators, err = readIndicators(tt, in.Indicators, complete); err != nil {
		return Report{}, err
	}
	r.Summary = strings.TrimSpace(in.Summary)
	r.Deviation = strings.TrimSpace(in.Deviation)
	switch n := utf8.RuneCountInString(r.Summary); {
	case n > MaxSummaryRunes:
		return Report{}, domain.Invalid("summary", fmt.Sprintf("年度建设进展不能超过 %d 字（现为 %d 字）", MaxSummaryRunes, n),
			fmt.Sprintf("summary has %d runes, above %d", n, MaxSummaryRunes))
	case complete && n == 0:
		return Report{}, domain.Invalid("summary", "请填写年度建设进展", "summary missing")
	}
	if err := storable("summary", "年度建设进展", r.Summary); err != nil {
		return Report{}, err
	}
	if n := utf8.RuneCountInString(r.Deviation); n > MaxDeviationRunes {
		return Report{}, domain.Invalid("deviation", fmt.Sprintf("偏差说明不能超过 %d 字（现为 %d 字）", MaxDeviationRunes, n),
			fmt.Sprintf("deviation has %d runes, above %d", n, MaxDeviationRunes))
	}
	if err := storable("deviation", "偏差说明", r.Deviation); err != nil {
		return Report{}, err
	}
	if complete && r.Deviation == "" {
		for _, s := range intent.Sources {
			if r.Spent.Get(s) > r.Planned.Get(s) {
				return Report{}, domain.Invalid("deviation",
					fmt.Sprintf("%s实际投入 %s 万元超过计划投入 %s 万元，请填写偏差说明", s.Label(), r.Spent.Get(s).Wan(), r.Planned.Get(s).Wan()),
					fmt.Sprintf("spent.%s above planned.%s without a deviation note", s, s))
			}
		}
	}
	return r, nil
}

// readFunds reads one money block: the five sources of the intent form, in 万元.
func readFunds(block, what string, raw map[string]json.RawMessage, complete bool) (intent.Funds, intent.Yuan, error) {
	var unknown []string
	for k := range raw {
		if !slices.Contains(intent.Sources, intent.Source(k)) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return intent.Funds{}, 0, domain.Invalid(block+"."+clip(unknown[0]),
			fmt.Sprintf("%s：未知的经费来源“%s”，应为 school（学校自筹）、industry（行业企业投入）、sponsor（举办方投入）、municipal（地市县投入）或 provincial（省财政投入）",
				what, clip(unknown[0])),
			fmt.Sprintf("%s: unknown source %q", block, clip(unknown[0])))
	}
	var f intent.Funds
	for _, s := range intent.Sources {
		field := block + "." + string(s)
		y, present, err := intent.ParseMoney(raw[string(s)])
		if err != nil {
			return intent.Funds{}, 0, moneyError(field, what+"（"+s.Label()+"）", err)
		}
		if complete && !present {
			return intent.Funds{}, 0, domain.Invalid(field, fmt.Sprintf("请填写%s（%s），没有投入请填 0", what, s.Label()),
				field+" missing")
		}
		f.Set(s, y)
	}
	total, err := f.Total()
	if err != nil {
		return intent.Funds{}, 0, domain.Invalid(block, what+"合计超出可记录的范围，请核对金额", block+": sum overflows")
	}
	return f, total, nil
}

func readIndicators(tt TaskIndicators, raw map[string]json.RawMessage, complete bool) (map[string]int64, error) {
	out := map[string]int64{}
	for _, in := range tt.Indicators {
		field := "indicators." + in.Key
		v, present, err := intent.ParseQuantity(raw[in.Key])
		if errors.Is(err, intent.ErrQuantityTooLarge) {
			// ParseQuantity bounds at its own maximum; read again against the
			// indicator's, which may be larger.
			v, present, err = readLarge(raw[in.Key])
		}
		if err == nil && present && v > in.max() {
			err = intent.ErrQuantityTooLarge
		}
		if err != nil {
			msg := fmt.Sprintf("%s须为非负整数（单位：%s）", in.Label, in.Unit)
			switch {
			case in.Kind == KindPercent:
				msg = fmt.Sprintf("%s须为 0 到 100 之间的整数（单位：%%）", in.Label)
			case errors.Is(err, intent.ErrQuantityTooLarge):
				msg = fmt.Sprintf("%s不能超过 %d %s", in.Label, in.max(), in.Unit)
			}
			return nil, domain.Invalid(field, msg, fmt.Sprintf("%s: %v", field, err))
		}
		if complete && in.Required && !present {
			return nil, domain.Invalid(field, fmt.Sprintf("请填写%s（单位：%s）", in.Label, in.Unit), field+" missing")
		}
		if present {
			out[in.Key] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(raw)) {
		if _, ok := tt.indicator(k); !ok {
			return nil, domain.Invalid("indicators."+clip(k), fmt.Sprintf("不支持的指标“%s”（%s的绩效指标中没有此项）", clip(k), tt.Name),
				fmt.Sprintf("indicators: unknown key %q", clip(k)))
		}
	}
	return out, nil
}

// readLarge reads a non-negative JSON integer up to maxCount.
func readLarge(raw json.RawMessage) (int64, bool, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, true, intent.ErrNotInteger
	}
	s := n.String()
	if strings.ContainsAny(s, ".eE-") || len(s) > 10 {
		return 0, true, intent.ErrQuantityTooLarge
	}
	var v int64
	for _, c := range s {
		v = v*10 + int64(c-'0')
	}
	return v, true, nil
}

// moneyError explains why an amount of 万元 was refused.
func moneyError(field, what string, err error) error {
	var msg string
	switch {
	case errors.Is(err, intent.ErrExponent):
		msg = what + "请用普通小数书写（如 12.5），不支持科学计数法"
	case errors.Is(err, intent.ErrTooPrecise):
		msg = what + "最多4位小数（单位万元，精确到元）"
	case errors.Is(err, intent.ErrTooLarge):
		msg = fmt.Sprintf("%s超出上限，单位万元，不能超过 %d 万元", what, intent.MaxWan)
	default:
		msg = what + "须为非负数，单位万元，最多4位小数"
	}
	return domain.Invalid(field, msg, fmt.Sprintf("%s: %v", field, err))
}

// storable refuses a text holding NUL (JSON "\u0000"): the event log keeps it,
// but Postgres refuses it in the read models' text and jsonb columns, so the
// projection would stop at the event for good.
func storable(field, what, s string) error {
	if strings.ContainsRune(s, 0) {
		return domain.Invalid(field, what+"含有无效字符（空字符），请删除后重新填写", field+" holds a NUL character")
	}
	return nil
}

// clip shortens a client's string before it is echoed.
func clip(s string) string {
	const runes = 32
	if utf8.RuneCountInString(s) <= runes {
		return s
	}
	return string([]rune(s)[:runes]) + "…"
}

// Package exports renders the intent round's read models for use outside the
// platform: a province's intent form as a print-ready A4 page in the layout of
// the notice's 附件 (人社职司便函〔2022〕20号), and the form and the national
// summary as .xlsx workbooks whose figures are numbers, exact to the yuan.
package exports

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // dates are shown in Asia/Shanghai wherever the binary runs

	"keytask/domain/intent"
	"keytask/projections"
)

// FormTitle is the title of the notice's 附件.
const FormTitle = "技工教育“十四五”规划任务（项目）承接意向表"

// SummaryTitle is the title of the national summary.
const SummaryTitle = "技工教育“十四五”规划任务（项目）承接意向汇总表"

// MoneyUnit heads the money columns, as on the notice's form.
const MoneyUnit = "预计投入经费（单位：万元）"

// TotalLabel is the column of the sum over the sources (投入经费汇总).
const TotalLabel = "投入经费汇总"

// shanghai is where every deadline and date the platform shows lives.
var shanghai = mustLoad("Asia/Shanghai")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded: this cannot fail
	}
	return loc
}

// formatTime shows an instant as people in China read it.
func formatTime(t time.Time) string { return t.In(shanghai).Format("2006-01-02 15:04") }

// StatusLabel names a form's status for users.
func StatusLabel(s intent.Status) string {
	switch s {
	case intent.StatusDraft:
		return "草稿（未提交）"
	case intent.StatusSubmitted:
		return "已提交"
	case intent.StatusReturned:
		return "已退回修改"
	}
	return "未填报"
}

// StageLabel names a round's stage for users.
func StageLabel(s intent.Stage) string {
	switch s {
	case intent.StageOpen:
		return "填报中"
	case intent.StageClosed:
		return "已截止"
	case intent.StageFiled:
		return "已汇总备案"
	}
	return string(s)
}

// KindLabel names a task's kind for users.
func KindLabel(k intent.Kind) string {
	switch k {
	case intent.KindSelection:
		return "遴选类"
	case intent.KindDevelopment:
		return "开发类"
	}
	return string(k)
}

// taskRow is one task of a table laid out as in the notice's 附件: sub-items
// (2.1, 2.2) share their parent's 序号 cell, which spans them.
type taskRow struct {
	No     string // the parent number shown in 序号; "" on a row that the cell above spans
	Span   int    // rows the 序号 cell spans; 0 on a spanned row
	Task   string // "2.1 遴选优质技工院校" for a sub-item, the name alone otherwise
	Target string // "全国约300所" for a selection task, "单位：项标准" for a development task with a unit
}

// taskRows lays the items out; consecutive items with the same parent number
// share one 序号 cell when any of them is a sub-item.
func taskRows(items []intent.TaskItem) []taskRow {
	rows := make([]taskRow, len(items))
	for i := 0; i < len(items); {
		parent, _, _ := strings.Cut(items[i].Item, ".")
		j := i + 1
		for j < len(items) {
			if p, _, _ := strings.Cut(items[j].Item, "."); p != parent {
				break
			}
			j++
		}
		for k := i; k < j; k++ {
			it := items[k]
			r := taskRow{Task: it.Name}
			if it.Item != parent {
				r.Task = it.Item + " " + it.Name
			}
			if it.Kind == intent.KindSelection && it.Target > 0 {
				r.Target = fmt.Sprintf("全国约%d%s", it.Target, it.Unit)
			} else if it.Unit != "" {
				r.Target = "单位：" + it.Unit
			}
			if k == i {
				r.No, r.Span = parent, j-i
			}
			rows[k] = r
		}
		i = j
	}
	return rows
}

// formSubtitle is what a form's header says about its state.
func formSubtitle(v projections.FormView) string {
	s := "状态：" + StatusLabel(v.Status)
	switch {
	case v.Status == intent.StatusSubmitted && v.SubmittedAt != nil:
		s += "（" + formatTime(*v.SubmittedAt) + " 提交"
		if v.Late {
			s += "，逾期"
		}
		s += "）"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

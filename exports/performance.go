package exports

import (
	"fmt"
	"io"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/projections"
)

// Sheets of the performance workbook.
const (
	PerformanceSheet          = "绩效汇总"
	PerformanceIndicatorSheet = "指标汇总"
	PerformanceReportSheet    = "项目明细"
)

// Layout of the summary sheet, shared with its tests: 省份, 任务类型, 报告数,
// 已提交, 逾期, 提交率（%）, then 计划投入 (total and the five sources) and
// 实际投入 (the same).
const (
	PerformanceFirstRow   = 5
	PerformancePlannedCol = 7  // 计划投入合计; the sources follow
	PerformanceSpentCol   = 13 // 实际投入合计; the sources follow
)

// WritePerformanceXLSX writes a year's roll-ups per province and task type
// with planned against spent money per source, the indicators summed, and
// every report's status.
func WritePerformanceXLSX(w io.Writer, year int, rollups []projections.PerformanceRollup, reports []projections.PerformanceReportRow) error {
	b := newBook(PerformanceSheet)
	last := PerformanceSpentCol + len(intent.Sources)
	b.str(1, 1, fmt.Sprintf("%d年度重点任务（项目）执行绩效汇总表", year), b.title)
	b.merge(1, 1, last, 1)
	b.do(b.f.SetRowHeight(PerformanceSheet, 1, 30))
	var n, sub int
	for _, r := range rollups {
		n += r.Reports
		sub += r.Submitted
	}
	b.str(1, 2, fmt.Sprintf("年度：%d　报告 %d 份，已提交 %d 份　金额单位：万元", year, n, sub), b.subtitle)
	b.merge(1, 2, last, 2)

	for i, h := range []string{"省份", "任务类型", "报告数", "已提交", "逾期", "提交率（%）"} {
		b.str(i+1, 3, h, b.header)
		b.styleRange(i+1, 3, i+1, 4, b.header)
		b.merge(i+1, 3, i+1, 4)
	}
	for _, g := range []struct {
		col   int
		title string
	}{{PerformancePlannedCol, "计划投入（万元）"}, {PerformanceSpentCol, "实际投入（万元）"}} {
		b.str(g.col, 3, g.title, b.header)
		b.styleRange(g.col, 3, g.col+len(intent.Sources), 3, b.header)
		b.merge(g.col, 3, g.col+len(intent.Sources), 3)
		b.str(g.col, 4, "合计", b.header)
		for j, s := range intent.Sources {
			b.str(g.col+1+j, 4, s.Label(), b.header)
		}
	}
	var planned, spent intent.Funds
	for i, r := range rollups {
		row := PerformanceFirstRow + i
		b.str(1, row, provinceName(r.Province), b.text)
		b.str(2, row, taskName(r.TaskType), b.text)
		b.num(3, row, int64(r.Reports), b.integer)
		b.num(4, row, int64(r.Submitted), b.integer)
		b.num(5, row, int64(r.Late), b.integer)
		// Exact decimal text from integers, like money.
		b.do(b.f.SetCellDefault(PerformanceSheet, cell(6, row), permilleText(r.RatePermille)))
		b.do(b.f.SetCellStyle(PerformanceSheet, cell(6, row), cell(6, row), b.percent))
		b.wan(PerformancePlannedCol, row, r.PlannedTotal, b.money)
		b.wan(PerformanceSpentCol, row, r.SpentTotal, b.money)
		for j, s := range intent.Sources {
			b.wan(PerformancePlannedCol+1+j, row, r.Planned.Get(s), b.money)
			b.wan(PerformanceSpentCol+1+j, row, r.Spent.Get(s), b.money)
		}
		var err error
		if planned, err = planned.Plus(r.Planned); err != nil {
			return err
		}
		if spent, err = spent.Plus(r.Spent); err != nil {
			return err
		}
	}
	total := PerformanceFirstRow + len(rollups)
	b.str(1, total, "合计", b.totalText)
	b.styleRange(1, total, 6, total, b.totalText)
	b.merge(1, total, 6, total)
	pt, err := planned.Total()
	if err != nil {
		return err
	}
	st, err := spent.Total()
	if err != nil {
		return err
	}
	b.wan(PerformancePlannedCol, total, pt, b.totalMoney)
	b.wan(PerformanceSpentCol, total, st, b.totalMoney)
	for j, s := range intent.Sources {
		b.wan(PerformancePlannedCol+1+j, total, planned.Get(s), b.totalMoney)
		b.wan(PerformanceSpentCol+1+j, total, spent.Get(s), b.totalMoney)
	}
	b.str(1, total+1, "注：金额与指标仅汇总已提交或已锁定的报告（各项目最近一次提交）；被退回的报告在重新提交前不计入。金额单位为万元，保留四位小数（精确到元）。", b.note)
	b.merge(1, total+1, last, total+1)
	b.widths(14, 30, 8, 8, 8, 11, 14, 13, 13, 13, 13, 13, 14, 13, 13, 13, 13, 13)
	b.landscapeA4(3, 4)

	b.sheet = PerformanceIndicatorSheet
	_, err = b.f.NewSheet(PerformanceIndicatorSheet)
	b.do(err)
	for i, h := range []string{"省份", "任务类型", "指标", "单位", "合计"} {
		b.str(i+1, 1, h, b.header)
	}
	row := 2
	for _, r := range rollups {
		tt, _ := performance.Indicators.For(r.TaskType)
		for _, in := range tt.Indicators {
			b.str(1, row, provinceName(r.Province), b.text)
			b.str(2, row, taskName(r.TaskType), b.text)
			b.str(3, row, in.Label, b.text)
			b.str(4, row, in.Unit, b.center)
			b.num(5, row, r.Indicators[in.Key], b.integer)
			row++
		}
	}
	b.widths(14, 30, 26, 8, 14)

	b.sheet = PerformanceReportSheet
	_, err = b.f.NewSheet(PerformanceReportSheet)
	b.do(err)
	for i, h := range []string{"项目编号", "省份", "学校", "任务类型", "状态", "提交次数", "逾期", "提醒次数", "计划投入合计（万元）", "实际投入合计（万元）"} {
		b.str(i+1, 1, h, b.header)
	}
	for i, r := range reports {
		row := 2 + i
		b.str(1, row, r.ProjectID, b.text)
		b.str(2, row, provinceName(r.Province), b.text)
		b.str(3, row, r.School, b.text)
		b.str(4, row, taskName(r.TaskType), b.text)
		b.str(5, row, r.Status.Label(), b.center)
		b.num(6, row, int64(r.Submissions), b.integer)
		b.str(7, row, yesNo(r.Late), b.center)
		b.num(8, row, int64(r.Reminders), b.integer)
		if r.Report != nil {
			b.wan(9, row, r.Report.PlannedTotal, b.money)
			b.wan(10, row, r.Report.SpentTotal, b.money)
		} else {
			b.blank(9, row, b.money)
			b.blank(10, row, b.money)
		}
	}
	b.widths(22, 14, 16, 30, 8, 9, 6, 9, 18, 18)
	return b.write(w)
}

func provinceName(code string) string {
	if n, ok := identity.Provinces[code]; ok {
		return n
	}
	return code
}

func taskName(code string) string {
	if t, ok := performance.Indicators.For(code); ok {
		return t.Name
	}
	return code
}

// permilleText is a rate in per mille as a percentage with one decimal.
func permilleText(p int) string { return fmt.Sprintf("%d.%d", p/10, p%10) }

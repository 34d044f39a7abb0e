package exports

import (
	"io"

	"keytask/projections"
)

// Sheets of the progress workbook.
const (
	ProgressSheet         = "任务进展"
	ProgressProvinceSheet = "分省进展"
	ProgressMoneySheet    = "经费"
)

// Layout of the progress sheets, shared with their tests: the first data row,
// and the columns of the counts on 任务进展 (目标 first, then the counts in the
// order of ProgressColumns, then 距目标).
const (
	ProgressFirstRow  = 4
	ProgressTargetCol = 4
)

// ProgressColumns are the counts' headings in column order.
var ProgressColumns = []string{"承接数量", "承接省份", "申报", "推荐", "公布（累计）", "建设中", "整改中", "撤销", "通过验收"}

func progressCounts(c projections.ProgressCounts) []int64 {
	return []int64{c.Intended, c.Provinces, c.Applications, c.Recommended, c.Published, c.UnderConstruction, c.Flagged, c.Revoked, c.Accepted}
}

// WriteProgressXLSX writes the programme against its targets: per task item,
// per task item and province, and money pledged, planned and spent per
// province, task item and source. title names the scope and instant.
func WriteProgressXLSX(w io.Writer, title string, p projections.ProgressReport) error {
	b := newBook(ProgressSheet)
	last := ProgressTargetCol + len(ProgressColumns) + 1
	b.str(1, 1, "重点任务（项目）进展情况", b.title)
	b.merge(1, 1, last, 1)
	b.str(1, 2, title, b.subtitle)
	b.merge(1, 2, last, 2)
	heads := append(append([]string{"任务批次", "序号", "工作任务", "目标"}, ProgressColumns...), "距目标")
	for i, h := range heads {
		b.str(i+1, 3, h, b.header)
	}
	for i, it := range p.Items {
		row := ProgressFirstRow + i
		b.str(1, row, it.PlanBatchID, b.text)
		b.str(2, row, it.Item, b.center)
		b.str(3, row, it.Name, b.text)
		b.num(ProgressTargetCol, row, it.Target, b.integer)
		for j, n := range progressCounts(it.ProgressCounts) {
			b.num(ProgressTargetCol+1+j, row, n, b.integer)
		}
		b.num(last, row, it.Remaining, b.integer)
	}
	b.str(1, ProgressFirstRow+len(p.Items), "注：公布为各批次累计公布的项目数，撤销的项目不计入目标完成数；距目标 = 目标 −（公布 − 撤销），不小于0；省级视图中以本省承接数量为目标。", b.note)
	b.merge(1, ProgressFirstRow+len(p.Items), last, ProgressFirstRow+len(p.Items))
	b.widths(10, 6, 40, 8, 10, 10, 8, 8, 12, 8, 8, 8, 10, 8)
	b.landscapeA4(3, 3)

	b.sheet = ProgressProvinceSheet
	_, err := b.f.NewSheet(ProgressProvinceSheet)
	b.do(err)
	heads = append(append([]string{"任务批次", "序号", "省份"}, ProgressColumns...), "距承接数量")
	for i, h := range heads {
		b.str(i+1, 1, h, b.header)
	}
	for i, c := range p.Cells {
		row := 2 + i
		b.str(1, row, c.PlanBatchID, b.text)
		b.str(2, row, c.Item, b.center)
		b.str(3, row, provinceName(c.Province), b.text)
		for j, n := range progressCounts(c.ProgressCounts) {
			b.num(4+j, row, n, b.integer)
		}
		b.num(4+len(ProgressColumns), row, c.Remaining, b.integer)
	}
	b.widths(10, 6, 16, 10, 10, 8, 8, 12, 8, 8, 8, 10, 12)

	b.sheet = ProgressMoneySheet
	_, err = b.f.NewSheet(ProgressMoneySheet)
	b.do(err)
	for i, h := range []string{"任务批次", "序号", "省份", "资金来源", "承诺投入（万元）", "计划投入（万元）", "实际投入（万元）"} {
		b.str(i+1, 1, h, b.header)
	}
	row := 2
	for _, m := range p.Money {
		b.str(1, row, m.PlanBatchID, b.text)
		b.str(2, row, m.Item, b.center)
		b.str(3, row, provinceName(m.Province), b.text)
		b.str(4, row, m.Source.Label(), b.text)
		b.wan(5, row, m.Pledged, b.money)
		b.wan(6, row, m.Planned, b.money)
		b.wan(7, row, m.Spent, b.money)
		row++
	}
	for _, s := range p.Sources {
		b.str(1, row, "合计", b.totalText)
		b.styleRange(1, row, 3, row, b.totalText)
		b.merge(1, row, 3, row)
		b.str(4, row, s.Label, b.totalText)
		b.wan(5, row, s.Pledged, b.totalMoney)
		b.wan(6, row, s.Planned, b.totalMoney)
		b.wan(7, row, s.Spent, b.totalMoney)
		row++
	}
	b.str(1, row, "注：承诺投入取自各省承接意向表（已提交、未被退回）；计划投入与实际投入为各年度执行绩效报告中已提交或已锁定者之和。金额单位为万元，保留四位小数（精确到元）。", b.note)
	b.merge(1, row, 7, row)
	b.widths(10, 6, 16, 14, 18, 18, 18)
	return b.write(w)
}

// ProgressMoneyTotalRow is the first 合计 row of the money sheet, one per
// source in the order of intent.Sources.
func ProgressMoneyTotalRow(p projections.ProgressReport) int { return 2 + len(p.Money) }

package exports

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"keytask/domain/intent"
	"keytask/projections"
)

// Money in a workbook.
//
// A cell's number is stored in the file as decimal text (<v>12.3456</v>) and
// Excel reads it into an IEEE double. Going through float64 ourselves would
// round twice and could print a different decimal, so money is never a float
// here: each amount is written as the exact decimal text of yuan/10000
// (intent.Yuan.Wan) into a numeric cell (no t attribute, which means number;
// excelize's SetCellDefault). The file therefore holds exactly the read model's
// amount, and any reader that parses the text gets it back exactly. Excel itself
// keeps 15 significant digits, which covers every amount to the yuan up to
// 10^11 万元 (one amount is at most intent.MaxWan = 10^8 万元), far beyond any
// national total. Cells carry the number format 0.0000, the form's 万元 to the yuan.
const moneyFormat = "0.0000"

// setWan writes y as a numeric cell in 万元.
func setWan(f *excelize.File, sheet, cell string, y intent.Yuan) error {
	return f.SetCellDefault(sheet, cell, y.Wan())
}

// book wraps excelize with the styles both workbooks use and remembers the
// first error, so that layout code reads as a list of cells.
type book struct {
	f     *excelize.File
	sheet string
	err   error

	title, subtitle, header, text, center, integer, percent, money, totalText, totalMoney, note int
}

func newBook(sheet string) *book {
	b := &book{f: excelize.NewFile(), sheet: sheet}
	b.do(b.f.SetSheetName("Sheet1", sheet))
	border := []excelize.Border{
		{Type: "left", Color: "000000", Style: 1}, {Type: "right", Color: "000000", Style: 1},
		{Type: "top", Color: "000000", Style: 1}, {Type: "bottom", Color: "000000", Style: 1},
	}
	font := func(size float64, bold bool) *excelize.Font {
		return &excelize.Font{Family: "宋体", Size: size, Bold: bold}
	}
	mid := func(h string, wrap bool) *excelize.Alignment {
		return &excelize.Alignment{Horizontal: h, Vertical: "center", WrapText: wrap}
	}
	mf, pf, intFmt := moneyFormat, "0.00", "0"
	b.title = b.style(&excelize.Style{Font: font(16, true), Alignment: mid("center", false)})
	b.subtitle = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("left", false)})
	b.note = b.style(&excelize.Style{Font: font(9, false), Alignment: mid("left", true)})
	b.header = b.style(&excelize.Style{Font: font(11, true), Alignment: mid("center", true), Border: border})
	b.text = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("left", true), Border: border})
	b.center = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("center", true), Border: border})
	b.integer = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("right", false), Border: border, CustomNumFmt: &intFmt})
	b.percent = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("right", false), Border: border, CustomNumFmt: &pf})
	b.money = b.style(&excelize.Style{Font: font(11, false), Alignment: mid("right", false), Border: border, CustomNumFmt: &mf})
	b.totalText = b.style(&excelize.Style{Font: font(11, true), Alignment: mid("center", false), Border: border})
	b.totalMoney = b.style(&excelize.Style{Font: font(11, true), Alignment: mid("right", false), Border: border, CustomNumFmt: &mf})
	return b
}

func (b *book) do(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

func (b *book) style(s *excelize.Style) int {
	id, err := b.f.NewStyle(s)
	b.do(err)
	return id
}

func cell(col, row int) string {
	c, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		panic(err) // columns and rows here are small positive constants
	}
	return c
}

func (b *book) str(col, row int, s string, style int) {
	b.do(b.f.SetCellStr(b.sheet, cell(col, row), s))
	b.do(b.f.SetCellStyle(b.sheet, cell(col, row), cell(col, row), style))
}

func (b *book) num(col, row int, n int64, style int) {
	b.do(b.f.SetCellInt(b.sheet, cell(col, row), n))
	b.do(b.f.SetCellStyle(b.sheet, cell(col, row), cell(col, row), style))
}

func (b *book) wan(col, row int, y intent.Yuan, style int) {
	b.do(setWan(b.f, b.sheet, cell(col, row), y))
	b.do(b.f.SetCellStyle(b.sheet, cell(col, row), cell(col, row), style))
}

// blank gives an empty cell the style (its borders) of the table.
func (b *book) blank(col, row int, style int) {
	b.do(b.f.SetCellStyle(b.sheet, cell(col, row), cell(col, row), style))
}

func (b *book) merge(c1, r1, c2, r2 int) {
	if c1 != c2 || r1 != r2 {
		b.do(b.f.MergeCell(b.sheet, cell(c1, r1), cell(c2, r2)))
	}
}

// styleRange styles a whole range, so merged cells keep their borders.
func (b *book) styleRange(c1, r1, c2, r2, style int) {
	b.do(b.f.SetCellStyle(b.sheet, cell(c1, r1), cell(c2, r2), style))
}

func (b *book) widths(w ...float64) {
	for i, x := range w {
		col, _ := excelize.ColumnNumberToName(i + 1)
		b.do(b.f.SetColWidth(b.sheet, col, col, x))
	}
}

// landscapeA4 prints the sheet on A4 landscape, one page wide, repeating the
// header rows on every page.
func (b *book) landscapeA4(headerFirst, headerLast int) {
	size, orient, one, tall := 9, "landscape", 1, 0 // 9 is A4 in SpreadsheetML's paper sizes
	b.do(b.f.SetPageLayout(b.sheet, &excelize.PageLayoutOptions{Size: &size, Orientation: &orient, FitToWidth: &one, FitToHeight: &tall}))
	fit := true
	b.do(b.f.SetSheetProps(b.sheet, &excelize.SheetPropsOptions{FitToPage: &fit}))
	b.do(b.f.SetDefinedName(&excelize.DefinedName{
		Name: "_xlnm.Print_Titles", Scope: b.sheet,
		RefersTo: fmt.Sprintf("'%s'!$%d:$%d", b.sheet, headerFirst, headerLast),
	}))
}

func (b *book) write(w io.Writer) error {
	if b.err != nil {
		return fmt.Errorf("build workbook: %w", b.err)
	}
	if err := b.f.Write(w); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	return b.f.Close()
}

// FormSheet is the name of the form's worksheet.
const FormSheet = "承接意向表"

// Layout of the form's worksheet, shared with its tests: columns 序号, 工作任务,
// 是否承接, 承接数量, 投入经费汇总, then the sources in the order of intent.Sources.
const (
	FormFirstRow  = 5 // of the first task
	FormTotalCol  = 5
	FormSourceCol = 6 // of the first source
)

// WriteFormXLSX writes a province's form as a workbook in the notice's layout,
// followed by a 合计 row with the form's totals.
func WriteFormXLSX(w io.Writer, v projections.FormView) error {
	b := newBook(FormSheet)
	last := FormSourceCol + len(intent.Sources) - 1
	b.str(1, 1, FormTitle, b.title)
	b.merge(1, 1, last, 1)
	b.do(b.f.SetRowHeight(FormSheet, 1, 30))
	b.str(1, 2, "填报省份："+v.Province.Name, b.subtitle)
	b.merge(1, 2, 4, 2)
	b.str(5, 2, formSubtitle(v), b.subtitle)
	b.merge(5, 2, last, 2)

	b.moneyHeader([]string{"序号", "工作任务", "是否承接", "承接数量"}, FormTotalCol, last)

	items := make([]intent.TaskItem, len(v.Lines))
	for i, l := range v.Lines {
		items[i] = l.TaskItem
	}
	rows := taskRows(items)
	for i, l := range v.Lines {
		row := FormFirstRow + i
		r := rows[i]
		if r.Span > 0 {
			b.str(1, row, r.No, b.center)
			b.styleRange(1, row, 1, row+r.Span-1, b.center)
			b.merge(1, row, 1, row+r.Span-1)
		}
		task := r.Task
		if r.Target != "" {
			task += "（" + r.Target + "）"
		}
		b.str(2, row, task, b.text)
		b.str(3, row, yesNo(l.Undertake), b.center)
		if l.Undertake {
			b.num(4, row, l.Quantity, b.integer)
		} else {
			b.blank(4, row, b.integer)
		}
		b.wan(FormTotalCol, row, l.Total, b.money)
		for j, s := range intent.Sources {
			b.wan(FormSourceCol+j, row, l.Funds.Get(s), b.money)
		}
	}
	total := FormFirstRow + len(v.Lines)
	b.str(1, total, "合计", b.totalText)
	b.styleRange(1, total, 4, total, b.totalText)
	b.merge(1, total, 4, total)
	b.wan(FormTotalCol, total, v.Total, b.totalMoney)
	for j, s := range intent.Sources {
		b.wan(FormSourceCol+j, total, v.Totals.Get(s), b.totalMoney)
	}
	note := ""
	if v.Status == intent.StatusReturned && v.ReturnReason != "" {
		note = "退回原因：" + v.ReturnReason + "\n"
	}
	b.str(1, total+1, note+fmt.Sprintf("注：金额单位为万元，保留四位小数（精确到元）；投入经费汇总为各来源之和，由平台计算。轮次 %s，版本 %d。",
		v.RoundID, v.Version), b.note)
	b.merge(1, total+1, last, total+1)

	b.widths(7, 46, 10, 10, 15, 14, 14, 14, 14, 14)
	b.landscapeA4(3, 4)
	return b.write(w)
}

// SummarySheet and MissingSheet are the worksheets of the summary workbook.
const (
	SummarySheet = "全国汇总"
	MissingSheet = "未提交省份"
)

// Layout of the summary worksheet, shared with its tests: columns 序号, 工作任务,
// 类别, 全国目标, 单位, 承接省份数, 承接数量, 目标完成比例（%）, 投入经费汇总, then
// the sources in the order of intent.Sources.
const (
	SummaryFirstRow    = 5
	SummaryProvinceCol = 6
	SummaryQuantityCol = 7
	SummaryCoverageCol = 8
	SummaryTotalCol    = 9
	SummarySourceCol   = 10
)

// WriteSummaryXLSX writes the national summary of a round, from submitted forms
// only, with a second sheet of the provinces that have not submitted.
func WriteSummaryXLSX(w io.Writer, s projections.Summary) error {
	b := newBook(SummarySheet)
	last := SummarySourceCol + len(intent.Sources) - 1
	b.str(1, 1, SummaryTitle, b.title)
	b.merge(1, 1, last, 1)
	b.do(b.f.SetRowHeight(SummarySheet, 1, 30))
	b.str(1, 2, fmt.Sprintf("轮次：%s　批次：%s　阶段：%s　截止时间：%s　已提交 %d / %d 个省份",
		s.RoundID, s.BatchID, StageLabel(s.Stage), formatTime(s.Deadline), len(s.Submitted), s.Expected), b.subtitle)
	b.merge(1, 2, last, 2)

	b.moneyHeader([]string{"序号", "工作任务", "类别", "全国目标", "单位", "承接省份数", "承接数量", "目标完成比例（%）"}, SummaryTotalCol, last)

	items := make([]intent.TaskItem, len(s.Items))
	for i, it := range s.Items {
		items[i] = it.TaskItem
	}
	rows := taskRows(items)
	for i, it := range s.Items {
		row := SummaryFirstRow + i
		r := rows[i]
		if r.Span > 0 {
			b.str(1, row, r.No, b.center)
			b.styleRange(1, row, 1, row+r.Span-1, b.center)
			b.merge(1, row, 1, row+r.Span-1)
		}
		b.str(2, row, r.Task, b.text)
		b.str(3, row, KindLabel(it.Kind), b.center)
		if it.Kind == intent.KindSelection {
			b.num(4, row, it.Target, b.integer)
		} else {
			b.blank(4, row, b.integer)
		}
		// Development tasks count too: the standards or textbooks undertaken.
		b.str(5, row, it.Unit, b.center)
		b.num(SummaryQuantityCol, row, it.Quantity, b.integer)
		b.num(SummaryProvinceCol, row, int64(it.Provinces), b.integer)
		if p := it.CoveragePercent(); p != "" {
			// Exact decimal text, like money: the percentage is computed in integers.
			b.do(b.f.SetCellDefault(SummarySheet, cell(SummaryCoverageCol, row), p))
			b.do(b.f.SetCellStyle(SummarySheet, cell(SummaryCoverageCol, row), cell(SummaryCoverageCol, row), b.percent))
		} else {
			b.blank(SummaryCoverageCol, row, b.integer)
		}
		b.wan(SummaryTotalCol, row, it.Total, b.money)
		for j, src := range intent.Sources {
			b.wan(SummarySourceCol+j, row, it.Funds.Get(src), b.money)
		}
	}
	total := SummaryFirstRow + len(s.Items)
	b.str(1, total, "合计", b.totalText)
	b.styleRange(1, total, SummaryCoverageCol, total, b.totalText)
	b.merge(1, total, SummaryCoverageCol, total)
	b.wan(SummaryTotalCol, total, s.Total, b.totalMoney)
	for j, src := range intent.Sources {
		b.wan(SummarySourceCol+j, total, s.Totals.Get(src), b.totalMoney)
	}
	b.str(1, total+1, "注：仅汇总已提交的承接意向表（各省最近一次提交）；被退回的表在重新提交前不计入。金额单位为万元，保留四位小数（精确到元）。", b.note)
	b.merge(1, total+1, last, total+1)
	b.widths(7, 40, 8, 9, 6, 11, 10, 12, 15, 14, 14, 14, 14, 14)
	b.landscapeA4(3, 4)

	// The provinces still missing, with whom to call.
	b.sheet = MissingSheet
	_, err := b.f.NewSheet(MissingSheet)
	b.do(err)
	for i, h := range []string{"代码", "省份", "状态", "延期至", "联络员", "联系电话", "电子邮箱"} {
		b.str(i+1, 1, h, b.header)
	}
	for i, m := range s.Missing {
		row := 2 + i
		ext := ""
		if m.Extension != nil {
			ext = formatTime(*m.Extension)
		}
		for j, v := range []string{m.Code, m.Name, StatusLabel(m.Status), ext, m.LiaisonName, m.LiaisonPhone, m.LiaisonEmail} {
			b.str(j+1, row, v, b.text)
		}
	}
	b.widths(6, 18, 14, 17, 10, 16, 26)
	return b.write(w)
}

// moneyHeader writes the notice's two-row table head on rows 3 and 4: each of
// heads spans both rows, then 预计投入经费（万元） spans the money columns from
// totalCol to last, over 投入经费汇总 and the five sources.
func (b *book) moneyHeader(heads []string, totalCol, last int) {
	for i, h := range heads {
		b.str(i+1, 3, h, b.header)
		b.styleRange(i+1, 3, i+1, 4, b.header)
		b.merge(i+1, 3, i+1, 4)
	}
	b.str(totalCol, 3, MoneyUnit, b.header)
	b.styleRange(totalCol, 3, last, 3, b.header)
	b.merge(totalCol, 3, last, 3)
	b.str(totalCol, 4, TotalLabel, b.header)
	for i, s := range intent.Sources {
		b.str(totalCol+1+i, 4, s.Label(), b.header)
	}
}

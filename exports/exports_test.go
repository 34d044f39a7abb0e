package exports_test

import (
	"archive/zip"
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"keytask/domain/intent"
	"keytask/exports"
	"keytask/projections"
)

var items = []intent.TaskItem{
	{Item: "1", Code: "SZJD", Name: "遴选技工教育思想政治理论课师资研修基地", Target: 30, Unit: "个", Kind: intent.KindSelection},
	{Item: "2.1", Code: "YZYX", Name: "遴选优质技工院校", Target: 300, Unit: "所", Kind: intent.KindSelection},
	{Item: "2.2", Code: "YZZY", Name: "遴选优质专业", Target: 500, Unit: "个", Kind: intent.KindSelection},
	{Item: "4", Code: "JXBZ", Name: "开发《技工院校XX专业教学标准》", Unit: "项标准", Kind: intent.KindDevelopment},
}

// Amounts that a float64 detour would betray: 0.0001 万元 (one yuan), the largest
// single amount with every digit set, and a sum beyond 15 significant digits.
var (
	oneYuan  = intent.Yuan(1)
	maxDigit = intent.MaxYuan - 1 // 99999999.9999 万元
)

func view(t *testing.T) projections.FormView {
	t.Helper()
	v := projections.FormView{
		RoundID: "2022-1", Province: projections.Province{Code: "11", Name: "北京市"}, Status: intent.StatusSubmitted,
		Version: 3, Late: true,
	}
	at := time.Date(2022, 6, 14, 2, 0, 0, 0, time.UTC)
	v.SubmittedAt = &at
	funds := []intent.Funds{
		{School: oneYuan, Industry: 12_3456, Sponsor: 0, Municipal: 5_0000, Provincial: maxDigit},
		{School: 300_0000},
		{},
		{Industry: 7},
	}
	for i, it := range items {
		total, err := funds[i].Total()
		if err != nil {
			t.Fatal(err)
		}
		l := projections.FormLine{TaskItem: it, Undertake: funds[i] != (intent.Funds{}), Funds: funds[i], Total: total}
		if l.Undertake {
			l.Quantity = int64(i + 2)
		}
		v.Lines = append(v.Lines, l)
		var err2 error
		if v.Totals, err2 = v.Totals.Plus(funds[i]); err2 != nil {
			t.Fatal(err2)
		}
	}
	var err error
	if v.Total, err = v.Totals.Total(); err != nil {
		t.Fatal(err)
	}
	return v
}

// wantMoney checks that a cell is a number (no string type) holding exactly y in
// 万元 and shown with four decimals.
func wantMoney(t *testing.T, f *excelize.File, sheet, cell string, y intent.Yuan) {
	t.Helper()
	typ, err := f.GetCellType(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	// SpreadsheetML writes numbers without a t attribute (it defaults to n);
	// excelize reports that as CellTypeUnset.
	if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Fatalf("%s!%s has type %v, want a number", sheet, cell, typ)
	}
	raw, err := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if raw != y.Wan() {
		t.Fatalf("%s!%s holds %q, want exactly %s 万元", sheet, cell, raw, y.Wan())
	}
	shown, err := f.GetCellValue(sheet, cell)
	if err != nil {
		t.Fatal(err)
	}
	if shown != y.WanFixed() {
		t.Fatalf("%s!%s shows %q, want %q", sheet, cell, shown, y.WanFixed())
	}
}

func wantInt(t *testing.T, f *excelize.File, sheet, cell, want string) {
	t.Helper()
	typ, _ := f.GetCellType(sheet, cell)
	raw, _ := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
	if (typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber) || raw != want {
		t.Fatalf("%s!%s = %q (type %v), want the number %s", sheet, cell, raw, typ, want)
	}
}

func wantStr(t *testing.T, f *excelize.File, sheet, cell, want string) {
	t.Helper()
	got, err := f.GetCellValue(sheet, cell)
	if err != nil || got != want {
		t.Fatalf("%s!%s = %q, %v; want %q", sheet, cell, got, err, want)
	}
}

func cellName(t *testing.T, col, row int) string {
	t.Helper()
	c, err := excelize.CoordinatesToCellName(col, row)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFormXLSX(t *testing.T) {
	v := view(t)
	var buf bytes.Buffer
	if err := exports.WriteFormXLSX(&buf, v); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := exports.FormSheet
	wantStr(t, f, s, "A1", exports.FormTitle)
	wantStr(t, f, s, "A2", "填报省份：北京市")
	wantStr(t, f, s, "A3", "序号")
	wantStr(t, f, s, "E3", "预计投入经费（单位：万元）")
	wantStr(t, f, s, "E4", "投入经费汇总")
	for i, src := range intent.Sources {
		wantStr(t, f, s, cellName(t, exports.FormSourceCol+i, 4), src.Label())
	}
	for i, l := range v.Lines {
		row := exports.FormFirstRow + i
		wantMoney(t, f, s, cellName(t, exports.FormTotalCol, row), l.Total)
		for j, src := range intent.Sources {
			wantMoney(t, f, s, cellName(t, exports.FormSourceCol+j, row), l.Funds.Get(src))
		}
	}
	wantStr(t, f, s, "A5", "1")
	wantStr(t, f, s, "A6", "2") // 2.1 and 2.2 share 序号 2, as on the notice's form
	wantStr(t, f, s, "B6", "2.1 遴选优质技工院校（全国约300所）")
	wantStr(t, f, s, "C6", "是")
	wantStr(t, f, s, "C7", "否")
	wantInt(t, f, s, "D6", "3")
	merged, err := f.GetMergeCells(s)
	if err != nil {
		t.Fatal(err)
	}
	if !hasMerge(merged, "A6", "A7") {
		t.Fatalf("序号 of 2.1 and 2.2 not merged: %v", merged)
	}
	total := exports.FormFirstRow + len(v.Lines)
	wantStr(t, f, s, cellName(t, 1, total), "合计")
	wantMoney(t, f, s, cellName(t, exports.FormTotalCol, total), v.Total)
	for j, src := range intent.Sources {
		wantMoney(t, f, s, cellName(t, exports.FormSourceCol+j, total), v.Totals.Get(src))
	}
	wantRawXML(t, buf.Bytes(), "xl/worksheets/sheet1.xml", v.Total.Wan())
}

// wantRawXML checks the sheet's XML holds the amount as a numeric cell value.
func wantRawXML(t *testing.T, xlsx []byte, name, wan string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(xlsx), int64(len(xlsx)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if zf.Name != name {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(`<c r="[A-Z]+[0-9]+"( s="[0-9]+")?><v>` + regexp.QuoteMeta(wan) + `</v></c>`)
		if !re.Match(b) {
			t.Fatalf("%s has no numeric cell <v>%s</v>", name, wan)
		}
		return
	}
	t.Fatalf("no %s in the workbook", name)
}

func hasMerge(merged []excelize.MergeCell, from, to string) bool {
	for _, m := range merged {
		if m.GetStartAxis() == from && m.GetEndAxis() == to {
			return true
		}
	}
	return false
}

func TestSummaryXLSX(t *testing.T) {
	v := view(t)
	s := projections.Summary{RoundID: "2022-1", BatchID: "2022-1", Stage: intent.StageFiled, Expected: 32,
		Deadline: time.Date(2022, 6, 15, 10, 0, 0, 0, time.UTC), Submitted: []projections.Province{{Code: "11", Name: "北京市"}},
		Missing: []projections.MissingProvince{{Province: projections.Province{Code: "12", Name: "天津市"}, Status: intent.StatusReturned, LiaisonName: "李四", LiaisonPhone: "13812345678"}}}
	// A national total beyond 15 significant digits: 32 provinces at the
	// maximum in every source of every line.
	for i, l := range v.Lines {
		it := projections.SummaryItem{TaskItem: l.TaskItem, Provinces: 1, Quantity: l.Quantity, Funds: l.Funds, Total: l.Total}
		if i == 0 {
			it.Provinces, it.Quantity = 32, 31
			it.Funds = intent.Funds{School: 32 * maxDigit, Industry: 32 * maxDigit, Sponsor: 32 * maxDigit, Municipal: 32 * maxDigit, Provincial: 32*maxDigit + oneYuan}
			it.Total = 5*32*maxDigit + oneYuan
		}
		s.Items = append(s.Items, it)
		s.Totals, _ = s.Totals.Plus(it.Funds)
		s.Total += it.Total
	}
	var buf bytes.Buffer
	if err := exports.WriteSummaryXLSX(&buf, s); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sh := exports.SummarySheet
	wantStr(t, f, sh, "A1", exports.SummaryTitle)
	for i, it := range s.Items {
		row := exports.SummaryFirstRow + i
		wantInt(t, f, sh, cellName(t, exports.SummaryProvinceCol, row), strconv.Itoa(it.Provinces))
		// 承接数量 on every row, development tasks included.
		wantInt(t, f, sh, cellName(t, exports.SummaryQuantityCol, row), strconv.FormatInt(it.Quantity, 10))
		if it.Kind == intent.KindSelection {
			wantInt(t, f, sh, cellName(t, exports.SummaryCoverageCol, row), it.CoveragePercent())
		}
		for j, src := range intent.Sources {
			wantRaw(t, f, sh, cellName(t, exports.SummarySourceCol+j, row), it.Funds.Get(src))
		}
		wantRaw(t, f, sh, cellName(t, exports.SummaryTotalCol, row), it.Total)
	}
	wantStr(t, f, sh, "H5", "103.33") // 31 of 30, computed in integers
	total := exports.SummaryFirstRow + len(s.Items)
	wantRaw(t, f, sh, cellName(t, exports.SummaryTotalCol, total), s.Total)
	wantStr(t, f, exports.MissingSheet, "B2", "天津市")
	wantStr(t, f, exports.MissingSheet, "E2", "李四")
}

// wantRaw checks a numeric cell's exact content without the displayed form,
// which for more than 15 significant digits is a float's approximation.
func wantRaw(t *testing.T, f *excelize.File, sheet, cell string, y intent.Yuan) {
	t.Helper()
	raw, err := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := f.GetCellType(sheet, cell)
	if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Fatalf("%s!%s has type %v", sheet, cell, typ)
	}
	if raw != y.Wan() {
		t.Fatalf("%s!%s holds %q, want exactly %s", sheet, cell, raw, y.Wan())
	}
}

func TestFormHTML(t *testing.T) {
	v := view(t)
	v.Status, v.ReturnReason = intent.StatusReturned, "请补充<经费>来源"
	var buf bytes.Buffer
	if err := exports.WriteFormHTML(&buf, v); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<meta charset="utf-8">`, "@page { size: A4", exports.FormTitle, "北京市",
		"序号", "工作任务", "是否承接", "承接数量", "预计投入经费（单位：万元）", "投入经费汇总",
		"学校自筹", "行业企业投入", "举办方投入", "地市县投入", "省财政投入",
		`<td rowspan="2">2</td>`, "2.1 遴选优质技工院校", "全国约300所",
		"0.0001", v.Lines[0].Total.WanFixed(), v.Total.WanFixed(), "合计",
		"请补充&lt;经费&gt;来源", // escaped by html/template
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<经费>") {
		t.Error("return reason not escaped")
	}
}

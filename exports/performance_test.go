package exports_test

import (
	"bytes"
	"testing"

	"github.com/xuri/excelize/v2"

	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/exports"
	"keytask/projections"
)

// The workbook carries each roll-up's money exactly, the totals row sums
// them, and the indicators and reports have their own sheets.
func TestWritePerformanceXLSX(t *testing.T) {
	rollups := []projections.PerformanceRollup{
		{Year: 2024, Province: "11", TaskType: "YZYX", Reports: 3, Submitted: 2, RatePermille: 666,
			Planned: intent.Funds{School: 1_234_5678, Provincial: 1}, PlannedTotal: 1_234_5679,
			Spent: intent.Funds{School: 1_000_0001}, SpentTotal: 1_000_0001, Indicators: map[string]int64{"students_enrolled": 8000}},
		{Year: 2024, Province: "44", TaskType: "JPKC", Reports: 1, Submitted: 1, RatePermille: 1000,
			Spent: intent.Funds{School: 9_999}, SpentTotal: 9_999, Indicators: map[string]int64{"courses_online": 12}},
	}
	reports := []projections.PerformanceReportRow{{ProjectID: "b.a1", Province: "11", TaskType: "YZYX", Status: performance.StatusLocked,
		Submissions: 2, Report: &performance.Report{PlannedTotal: 5, SpentTotal: 4}}}
	var buf bytes.Buffer
	if err := exports.WritePerformanceXLSX(&buf, 2024, rollups, reports); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	get := func(sheet string, col, row int) string {
		t.Helper()
		c, _ := excelize.CoordinatesToCellName(col, row)
		v, err := f.GetCellValue(sheet, c, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	first, total := exports.PerformanceFirstRow, exports.PerformanceFirstRow+2
	for _, c := range []struct {
		col, row int
		want     string
	}{
		{1, first, "北京市"}, {6, first, "66.6"}, {6, first + 1, "100.0"},
		{exports.PerformancePlannedCol, first, "1234.5679"}, {exports.PerformancePlannedCol + 1, first, "1234.5678"},
		{exports.PerformanceSpentCol, first, "1000.0001"},
		{exports.PerformanceSpentCol, total, "1001"}, {exports.PerformancePlannedCol + 5, total, "0.0001"},
		{1, total, "合计"},
	} {
		if got := get(exports.PerformanceSheet, c.col, c.row); got != c.want {
			t.Errorf("cell (%d,%d) = %q, want %q", c.col, c.row, got, c.want)
		}
	}
	if get(exports.PerformanceIndicatorSheet, 5, 2) != "8000" || get(exports.PerformanceReportSheet, 5, 2) != "已锁定" {
		t.Errorf("indicator %q, report status %q", get(exports.PerformanceIndicatorSheet, 5, 2), get(exports.PerformanceReportSheet, 5, 2))
	}
}

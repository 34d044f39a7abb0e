package exports

import (
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf16"

	"keytask/projections"
)

// HistoryTitle heads a stream-history workbook.
const HistoryTitle = "事件历史"

// WriteHistoryJSONL writes one JSON object per line, one line per event, in the
// history's order: the form auditors load into their own tools.
func WriteHistoryJSONL(w io.Writer, entries []projections.HistoryEntry) error {
	enc := json.NewEncoder(w) // Encode ends every value with a newline
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write history line: %w", err)
		}
	}
	return nil
}

// historyColumns are the workbook's columns, with their widths.
var historyColumns = []struct {
	title string
	width float64
}{
	{"日志位置", 10}, {"记录时间（北京时间）", 20}, {"事件流", 30}, {"流内序号", 9}, {"事件类型", 26},
	{"操作人", 14}, {"角色", 10}, {"单位", 12}, {"工作流", 30}, {"关联编号", 30}, {"事件内容", 60},
}

// roleZh names the roles of event metadata in Chinese.
var roleZh = map[string]string{
	"ministry": "部", "province": "省级人社部门", "school": "技工院校", "expert": "专家", "auditor": "审计",
	"evaluator": "第三方评估机构", "public": "社会公众", "system": "系统",
}

// WriteHistoryXLSX writes a subject's history as a workbook: a title naming the
// subject, then one row per event in the history's order.
func WriteHistoryXLSX(w io.Writer, kind projections.SubjectKind, id string, entries []projections.HistoryEntry) error {
	b := newBook(HistoryTitle)
	last := len(historyColumns)
	b.str(1, 1, fmt.Sprintf("%s%s %s", kind.Zh(), HistoryTitle, id), b.title)
	b.merge(1, 1, last, 1)
	b.str(1, 2, fmt.Sprintf("共 %d 条事件，按日志提交顺序排列", len(entries)), b.subtitle)
	b.merge(1, 2, last, 2)
	for i, c := range historyColumns {
		b.str(i+1, 3, c.title, b.header)
	}
	for i, e := range entries {
		row := 4 + i
		if e.Position > 0 {
			b.num(1, row, e.Position, b.integer)
		} else {
			b.str(1, row, e.PositionText(), b.center)
		}
		b.str(2, row, e.RecordedAt.In(shanghai).Format("2006-01-02 15:04:05"), b.center)
		b.str(3, row, e.StreamID, b.text)
		b.num(4, row, e.StreamVersion, b.integer)
		b.str(5, row, e.Type, b.text)
		b.str(6, row, e.ActorID, b.text)
		role := roleZh[e.Role]
		if role == "" {
			role = e.Role
		}
		b.str(7, row, role, b.center)
		b.str(8, row, e.Organisation, b.center)
		b.str(9, row, e.WorkflowID, b.text)
		b.str(10, row, e.CorrelationID, b.text)
		b.str(11, row, cellText(string(e.Data)), b.text)
	}
	widths := make([]float64, len(historyColumns))
	for i, c := range historyColumns {
		widths[i] = c.width
	}
	b.widths(widths...)
	if b.err != nil {
		return fmt.Errorf("history workbook: %w", b.err)
	}
	return b.f.Write(w)
}

// maxCellUnits keeps a cell under Excel's 32,767 characters (UTF-16 units) with
// room for the note; a batch's ranking of thousands of applications is longer.
const maxCellUnits = 32_000

// TruncatedNote ends a cell whose content was cut.
const TruncatedNote = "……（内容过长已截断，完整内容见 JSON Lines 导出）"

// cellText returns s, cut with a note when a cell cannot hold it.
func cellText(s string) string {
	units := 0
	for i, r := range s {
		units += utf16.RuneLen(r)
		if units > maxCellUnits {
			return s[:i] + TruncatedNote
		}
	}
	return s
}

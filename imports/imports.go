// Package imports reads the ministry's registers (schools, experts, users)
// from .xlsx workbooks and .csv files, and writes the template of each: one
// header row naming the columns of importrows.Columns, one row per record. The
// rules for each row live in domain/register; this package only reads cells.
package imports

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"keytask/domain"
	"keytask/domain/importrows"
)

// MaxRows bounds the records of one file: a national register is a few
// thousand rows, and a file far beyond it is a mistake.
const MaxRows = 20_000

// Row is one record of a file: its worksheet row number (the header is row 1)
// and its cells by field.
type Row struct {
	Line  int
	Cells importrows.Cells
}

// Read reads the rows of a register from a file named name (.xlsx or .csv).
// Blank rows are skipped. Errors: *domain.FieldError for field "file" naming
// what is wrong with the file as a whole (its format, a missing column).
func Read(name string, r io.Reader, sheet importrows.Sheet) ([]Row, error) {
	var (
		records [][]string
		err     error
	)
	switch strings.ToLower(filepath.Ext(name)) {
	case ".xlsx":
		records, err = readXLSX(r)
	case ".csv":
		records, err = readCSV(r)
	default:
		return nil, domain.Invalid("file", "请上传 .xlsx 或 .csv 文件（可先下载导入模板）", fmt.Sprintf("file %q is neither .xlsx nor .csv", name))
	}
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, domain.Invalid("file", "文件为空：第1行应为表头（列名与导入模板相同）", "empty file")
	}
	fields, err := header(records[0], sheet)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for i, rec := range records[1:] {
		cells := importrows.Cells{}
		blank := true
		for j, text := range rec {
			if j < len(fields) && fields[j] != "" {
				text = strings.TrimSpace(text)
				cells[fields[j]] = text
				blank = blank && text == ""
			}
		}
		if blank {
			continue
		}
		if len(rows) == MaxRows {
			return nil, domain.Invalid("file", fmt.Sprintf("一个文件最多导入%d行，请分成几个文件", MaxRows), "too many rows")
		}
		rows = append(rows, Row{Line: i + 2, Cells: cells})
	}
	return rows, nil
}

// header maps each column of the header row to its field ("" for a column
// the register does not know, which is ignored).
func header(names []string, sheet importrows.Sheet) ([]string, error) {
	byHeader := map[string]string{}
	for _, c := range importrows.Columns(sheet) {
		byHeader[c.Header] = c.Field
	}
	fields := make([]string, len(names))
	seen := map[string]bool{}
	for i, name := range names {
		name = strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
		if f, ok := byHeader[name]; ok {
			if seen[f] {
				return nil, domain.Invalid("file", "表头中“"+name+"”列出现了两次", "column "+f+" repeated")
			}
			fields[i], seen[f] = f, true
		}
	}
	for _, c := range importrows.Columns(sheet) {
		if c.Required && !seen[c.Field] {
			return nil, domain.Invalid("file", "第1行表头缺少“"+c.Header+"”列，请使用导入模板", "missing column "+c.Field)
		}
	}
	return fields, nil
}

func readXLSX(r io.Reader) ([][]string, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, domain.Invalid("file", "无法读取该 .xlsx 文件，请用 Excel 或 WPS 另存为 .xlsx 后重试", "open xlsx: "+err.Error())
	}
	defer f.Close()
	// The register is the first worksheet; a second may hold the instructions.
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		return nil, domain.Invalid("file", "无法读取该 .xlsx 文件的第一个工作表", "read xlsx: "+err.Error())
	}
	return rows, nil
}

func readCSV(r io.Reader) ([][]string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if !utf8.Valid(data) {
		return nil, domain.Invalid("file", "CSV 文件应为 UTF-8 编码（在 Excel 中另存为“CSV UTF-8”）", "csv is not UTF-8")
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	records, err := cr.ReadAll()
	if err != nil {
		return nil, domain.Invalid("file", "CSV 文件格式有误："+err.Error(), "read csv: "+err.Error())
	}
	return records, nil
}

// Template returns the .xlsx template of a register: its header row on the
// first sheet, whose cells are text so that codes such as 01 keep their
// zeros, and the columns' instructions on a second.
func Template(sheet importrows.Sheet) ([]byte, error) {
	cols := importrows.Columns(sheet)
	if cols == nil {
		return nil, fmt.Errorf("template: unknown sheet %q", sheet)
	}
	f := excelize.NewFile()
	defer f.Close()
	name := sheet.Title()
	var first error
	do := func(err error) {
		if first == nil {
			first = err
		}
	}
	do(f.SetSheetName("Sheet1", name))
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
	do(err)
	bold, err := f.NewStyle(&excelize.Style{NumFmt: 49, Font: &excelize.Font{Bold: true}})
	do(err)
	last, _ := excelize.ColumnNumberToName(len(cols))
	do(f.SetColStyle(name, "A:"+last, text))
	do(f.SetColWidth(name, "A", last, 18))
	for i, c := range cols {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		do(f.SetCellStr(name, cell, c.Header))
	}
	do(f.SetCellStyle(name, "A1", last+"1", bold))
	do(f.SetPanes(name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}))

	const help = "填写说明"
	_, err = f.NewSheet(help)
	do(err)
	do(f.SetColWidth(help, "A", "A", 20))
	do(f.SetColWidth(help, "D", "D", 70))
	do(f.SetSheetRow(help, "A1", &[]string{"列名", "是否必填", "示例", "说明"}))
	for i, c := range cols {
		required := "否"
		if c.Required {
			required = "是"
		}
		do(f.SetSheetRow(help, fmt.Sprintf("A%d", i+2), &[]string{c.Header, required, c.Example, c.Note}))
	}
	note := fmt.Sprintf("A%d", len(cols)+3)
	do(f.SetCellStr(help, note, "在第一个工作表第2行起每行填写一条记录，表头勿改；同一文件可重复导入，已有记录不变，改动的记录按修改登记并保留历史。"))
	if first != nil {
		return nil, fmt.Errorf("template %s: %w", sheet, first)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, fmt.Errorf("template %s: %w", sheet, err)
	}
	return buf.Bytes(), nil
}

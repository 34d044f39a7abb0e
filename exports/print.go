package exports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"

	"keytask/domain/intent"
	"keytask/projections"
)

//go:embed form.html.tmpl
var formHTML string

var formPage = template.Must(template.New("form").Parse(formHTML))

// printRow is one row of the printed table, every figure already formatted.
type printRow struct {
	taskRow
	Undertake string
	Quantity  string
	Units     string // 实施单位: the schools' names, joined by 、
	Total     string
	Funds     []string // in the order of intent.Sources
}

type printFeedback struct {
	At, Text string
}

type printPage struct {
	Title, Province, Subtitle, RoundID string
	MoneyUnit, TotalLabel              string
	MoneyColumns                       int
	Sources                            []string
	Rows                               []printRow
	Total                              string
	Totals                             []string
	ReturnReason                       string
	Letter                             string // the 厅函: number, date, whether it arrived
	Feedback                           []printFeedback
	Version                            int64
}

// WriteFormHTML writes a province's form as a print-ready A4 (landscape) HTML
// page in the layout of the notice's 附件: 序号, 工作任务, 是否承接, 承接数量 and
// 预计投入经费（单位：万元） split into 投入经费汇总 and the five sources, with
// amounts in 万元 to four decimals.
func WriteFormHTML(w io.Writer, v projections.FormView) error {
	p := printPage{
		Title: FormTitle, Province: v.Province.Name, Subtitle: formSubtitle(v), RoundID: v.RoundID,
		MoneyUnit: MoneyUnit, TotalLabel: TotalLabel, MoneyColumns: 1 + len(intent.Sources),
		Total: v.Total.WanFixed(), Version: v.Version,
	}
	if v.Status == intent.StatusReturned {
		p.ReturnReason = v.ReturnReason
	}
	if l := v.Letter; l != nil {
		p.Letter = fmt.Sprintf("%s（%s）", l.LetterNo, l.Date)
		if l.ArrivedAt != nil {
			p.Letter += "，部已于 " + formatTime(*l.ArrivedAt) + " 登记收到"
		} else {
			p.Letter += "，待部登记收到"
		}
	}
	for _, s := range intent.Sources {
		p.Sources = append(p.Sources, s.Label())
		p.Totals = append(p.Totals, v.Totals.Get(s).WanFixed())
	}
	items := make([]intent.TaskItem, len(v.Lines))
	for i, l := range v.Lines {
		items[i] = l.TaskItem
	}
	for i, r := range taskRows(items) {
		l := v.Lines[i]
		row := printRow{taskRow: r, Undertake: yesNo(l.Undertake), Total: l.Total.WanFixed()}
		if l.Undertake {
			row.Quantity = strconv.FormatInt(l.Quantity, 10) + l.Unit
		}
		names := make([]string, len(l.Units))
		for j, u := range l.Units {
			names[j] = u.Name
		}
		row.Units = strings.Join(names, "、")
		for _, s := range intent.Sources {
			row.Funds = append(row.Funds, l.Funds.Get(s).WanFixed())
		}
		p.Rows = append(p.Rows, row)
	}
	for _, f := range v.Feedback {
		p.Feedback = append(p.Feedback, printFeedback{At: formatTime(f.RecordedAt), Text: f.Text})
	}
	if err := formPage.Execute(w, p); err != nil {
		return fmt.Errorf("render form page: %w", err)
	}
	return nil
}

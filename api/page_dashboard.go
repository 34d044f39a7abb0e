package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/projections"
)

// The national dashboard (驾驶舱): the progress read model drawn as inline SVG
// computed here, so that it needs no script and no network, prints as it
// shows, and carries a table of the same numbers under every chart.

// svgBar is one rectangle of a chart.
type svgBar struct {
	X, Y, W, H int
	Fill       string
	Title      string
}

// itemChartRow is one task item's bar: its counted projects by status, a tick
// at the target and one at the intended quantity.
type itemChartRow struct {
	Y, TextY       int
	Label, Text    string
	Bars           []svgBar
	TargetX        int // 0: no target to mark
	IntendedX      int // 0: nothing intended
	TickTop, TickB int
}

// tile is one provincial unit on the tile grid.
type tile struct {
	X, Y, TextY, PctY int
	Code, Name, Short string
	Fill, Ink         string
	Percent           string
	Href              string
}

// sourceChartRow is one funding source's three bars.
type sourceChartRow struct {
	LabelY int
	Label  string
	Bars   []svgBar
	Texts  []svgText
}

type svgText struct {
	X, Y int
	Text string
}

type dashboardData struct {
	Scope      string // 全国 or the province's name
	National   bool
	When       string
	AsOf       string // the as_of asked for, shown again in the form
	Query      string // plan_batch/province/as_of to keep in links
	Items      []projections.ProgressItem
	Selection  []projections.ProgressItem // items with a count target, charted
	ItemRows   []itemChartRow
	ItemHeight int
	Tiles      []tile
	Provinces  []projections.ProgressProvince
	Sources    []projections.ProgressSourceTotal
	SourceRows []sourceChartRow
	MoneyMax   string
	Attention  projections.ProgressAttention
	RateBar    svgBar
	XLSX       string
	Legend     []struct{ Fill, Label string }
}

// Chart geometry, in SVG user units.
const (
	chartLabelW = 230
	chartBarW   = 520
	chartRowH   = 30
)

// tileGrid places the 32 provincial units roughly where they lie on the map.
var tileGrid = map[string][2]int{
	"23": {6, 0},
	"65": {0, 1}, "66": {1, 1}, "15": {4, 1}, "11": {5, 1}, "22": {6, 1},
	"62": {2, 2}, "64": {3, 2}, "14": {4, 2}, "12": {5, 2}, "21": {6, 2},
	"63": {1, 3}, "61": {3, 3}, "13": {4, 3}, "37": {5, 3},
	"54": {0, 4}, "51": {1, 4}, "50": {2, 4}, "41": {3, 4}, "34": {4, 4}, "32": {5, 4}, "31": {6, 4},
	"52": {1, 5}, "43": {2, 5}, "42": {3, 5}, "36": {4, 5}, "33": {5, 5},
	"53": {1, 6}, "45": {2, 6}, "44": {3, 6}, "35": {4, 6},
	"46": {3, 7},
}

// shortNames are the units' names as a tile holds them.
var shortNames = map[string]string{
	"11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林", "23": "黑龙江",
	"31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
	"41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
	"50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
	"61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆", "66": "兵团",
}

// progressFill colours a tile by the share of its intended quantity
// published and not revoked; the scale's lightest step still reads in print.
func progressFill(percent int) (fill, ink string) {
	switch {
	case percent < 0:
		return "#e0e0e0", "#333333"
	case percent < 20:
		return "#fde0c5", "#1a1a1a"
	case percent < 40:
		return "#facba6", "#1a1a1a"
	case percent < 60:
		return "#f59e72", "#1a1a1a"
	case percent < 80:
		return "#d9534f", "#ffffff"
	}
	return "#8c1c13", "#ffffff"
}

// progressLegend is the tile grid's legend: each colour step and its range.
var progressLegend = []struct{ Fill, Label string }{
	{"#e0e0e0", "未承接"}, {"#fde0c5", "0–19%"}, {"#facba6", "20–39%"}, {"#f59e72", "40–59%"}, {"#d9534f", "60–79%"}, {"#8c1c13", "80–100%"},
}

func scaled(n, scale int64, width int) int {
	if scale <= 0 {
		return 0
	}
	return int(n * int64(width) / scale)
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request) error {
	f, err := progressFilter(r)
	if err != nil {
		return err
	}
	st, err := s.progressAt(r, f)
	if err != nil {
		return err
	}
	d := dashboardData{Scope: "全国", National: f.Province == "", When: progressTitle(f, st), AsOf: r.URL.Query().Get("as_of"),
		Legend: progressLegend, Items: st.Report.Items, Provinces: st.Report.Provinces, Sources: st.Report.Sources, Attention: st.Attention}
	if f.Province != "" {
		d.Scope = publicProvince(f.Province)
	}
	q := url.Values{}
	for _, k := range []string{"plan_batch", "province", "as_of"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if principal(r.Context()).Role == identity.RoleProvince {
		q.Del("province")
	}
	d.Query = q.Encode()
	d.XLSX = "/api/v1/progress.xlsx"
	if d.Query != "" {
		d.XLSX += "?" + d.Query
	}
	d.itemChart(f.Province != "")
	d.tileChart(principal(r.Context()).Role != identity.RoleProvince, q)
	d.moneyChart()
	if c := d.Attention.Collection; c != nil {
		d.RateBar = svgBar{X: chartLabelW, Y: 8, H: 22, W: scaled(c.Submitted, max(c.Reports, 1), chartBarW), Fill: "#2e7d32",
			Title: fmt.Sprintf("已提交 %d / %d", c.Submitted, c.Reports)}
	}
	return s.render(w, r, http.StatusOK, "dashboard.html", pageData{Title: "重点任务驾驶舱（" + d.Scope + "）", Data: d, Print: true})
}

// itemChart draws each selection task item's projects against its target (a
// province's against what it intended).
func (d *dashboardData) itemChart(province bool) {
	for _, it := range d.Items {
		if it.Kind == string(intent.KindSelection) {
			d.Selection = append(d.Selection, it)
		}
	}
	for i, it := range d.Selection {
		target := it.Target
		if province {
			target = it.Intended
		}
		scale := max(target, it.Intended, it.Published, 1)
		y := 6 + i*chartRowH
		row := itemChartRow{Y: y, TextY: y + 15, Label: it.Item + " " + it.Name, TickTop: y - 3, TickB: y + 21,
			Text: fmt.Sprintf("%d / %d", it.Counted(), target)}
		x := chartLabelW
		for _, seg := range []struct {
			n           int64
			fill, title string
		}{
			{it.Accepted, "#1b5e20", "通过验收"},
			{it.UnderConstruction - it.Flagged, "#66bb6a", "建设中"},
			{it.Flagged, "#f0a500", "整改中"},
		} {
			wdt := scaled(seg.n, scale, chartBarW)
			if wdt > 0 {
				row.Bars = append(row.Bars, svgBar{X: x, Y: y, W: wdt, H: 18, Fill: seg.fill, Title: fmt.Sprintf("%s %d", seg.title, seg.n)})
			}
			x += wdt
		}
		if target > 0 {
			row.TargetX = chartLabelW + scaled(target, scale, chartBarW)
		}
		if it.Intended > 0 && !province {
			row.IntendedX = chartLabelW + scaled(it.Intended, scale, chartBarW)
		}
		d.ItemRows = append(d.ItemRows, row)
	}
	d.ItemHeight = 12 + len(d.ItemRows)*chartRowH
}

// tileChart lays out the 32 units; only those in scope carry numbers, and
// the ministry's and auditors' tiles link to that province's dashboard.
func (d *dashboardData) tileChart(link bool, q url.Values) {
	in := map[string]projections.ProgressProvince{}
	for _, p := range d.Provinces {
		in[p.Province] = p
	}
	for code, at := range tileGrid {
		t := tile{X: at[0] * 74, Y: at[1] * 52, Code: code, Name: identity.Provinces[code], Short: shortNames[code]}
		t.TextY, t.PctY = t.Y+20, t.Y+38
		p, ok := in[code]
		if !ok {
			t.Fill, t.Ink = "#f5f5f5", "#999999"
		} else {
			t.Fill, t.Ink = progressFill(p.Percent)
			t.Percent = "—"
			if p.Percent >= 0 {
				t.Percent = fmt.Sprintf("%d%%", p.Percent)
			}
			if link {
				lq := url.Values{"province": {code}}
				for _, k := range []string{"plan_batch", "as_of"} {
					if v := q.Get(k); v != "" {
						lq.Set(k, v)
					}
				}
				t.Href = "/web/dashboard?" + lq.Encode()
			}
		}
		d.Tiles = append(d.Tiles, t)
	}
	// A fixed order keeps the page's bytes stable between renders.
	slices.SortFunc(d.Tiles, func(a, b tile) int { return strings.Compare(a.Code, b.Code) })
}

// moneyChart draws pledged, planned and spent per source on one scale.
func (d *dashboardData) moneyChart() {
	var top intent.Yuan = 1
	for _, s := range d.Sources {
		top = max(top, s.Pledged, s.Planned, s.Spent)
	}
	d.MoneyMax = top.Wan()
	for i, s := range d.Sources {
		y := 4 + i*62
		row := sourceChartRow{LabelY: y + 26, Label: s.Label}
		for j, m := range []struct {
			y           intent.Yuan
			fill, title string
		}{{s.Pledged, "#1565c0", "承诺"}, {s.Planned, "#90caf9", "计划"}, {s.Spent, "#ef6c00", "实际"}} {
			by := y + j*18
			wdt := scaled(int64(m.y), int64(top), chartBarW)
			row.Bars = append(row.Bars, svgBar{X: chartLabelW, Y: by, W: wdt, H: 15, Fill: m.fill,
				Title: fmt.Sprintf("%s%s %s 万元", s.Label, m.title, m.y.Wan())})
			row.Texts = append(row.Texts, svgText{X: chartLabelW + wdt + 4, Y: by + 12, Text: m.title + " " + m.y.Wan()})
		}
		d.SourceRows = append(d.SourceRows, row)
	}
}

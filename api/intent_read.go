package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/exports"
	"keytask/projections"
)

// Money in JSON: exact integer yuan (what the log holds) and the same amount in
// 万元 as decimal text with four decimals (what people read and type), never a
// JSON float.
type moneyView struct {
	Yuan int64  `json:"yuan"`
	Wan  string `json:"wan"`
}

func money(y intent.Yuan) moneyView { return moneyView{Yuan: int64(y), Wan: y.WanFixed()} }

// fundsView is money per source, under the sources' JSON names.
type fundsView struct {
	School     moneyView `json:"school"`
	Industry   moneyView `json:"industry"`
	Sponsor    moneyView `json:"sponsor"`
	Municipal  moneyView `json:"municipal"`
	Provincial moneyView `json:"provincial"`
}

func fundsOf(f intent.Funds) fundsView {
	return fundsView{School: money(f.School), Industry: money(f.Industry), Sponsor: money(f.Sponsor),
		Municipal: money(f.Municipal), Provincial: money(f.Provincial)}
}

// formDocView is a form as recorded: its lines and server-computed totals.
type formDocView struct {
	Lines  []lineDocView `json:"lines"`
	Totals fundsView     `json:"totals"`
	Total  moneyView     `json:"total"`
}

type lineDocView struct {
	Item      string     `json:"item"`
	Undertake bool       `json:"undertake"`
	Quantity  int64      `json:"quantity"`
	Funds     fundsView  `json:"funds"`
	Total     moneyView  `json:"total"`
	Units     []unitView `json:"units"`
}

// unitView is one 实施单位: a school of the register, by code and name.
type unitView struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

func unitViews(us []intent.Unit) []unitView {
	out := make([]unitView, len(us))
	for i, u := range us {
		out[i] = unitView{Code: u.Code, Name: u.Name}
	}
	return out
}

// letterView is the 厅函 that sends a province's form.
type letterView struct {
	LetterNo   string     `json:"letter_no"`
	Date       string     `json:"date"`
	FileName   string     `json:"file_name"`
	MediaType  string     `json:"media_type"`
	Size       int64      `json:"size"`
	SHA256     string     `json:"sha256"`
	ScanURL    string     `json:"scan_url"`
	RecordedAt time.Time  `json:"recorded_at"`
	RecordedBy string     `json:"recorded_by"`
	Arrived    bool       `json:"arrived"`
	ArrivedAt  *time.Time `json:"arrived_at,omitempty"`
}

func letterViewOf(round, province string, l *projections.Letter) *letterView {
	if l == nil {
		return nil
	}
	return &letterView{LetterNo: l.LetterNo, Date: l.Date, FileName: l.FileName, MediaType: l.MediaType, Size: l.Size, SHA256: l.SHA256,
		ScanURL:    "/api/v1/intent-rounds/" + url.PathEscape(round) + "/provinces/" + url.PathEscape(province) + "/letter/scan",
		RecordedAt: l.RecordedAt, RecordedBy: l.RecordedBy, Arrived: l.ArrivedAt != nil, ArrivedAt: l.ArrivedAt}
}

func formDoc(f intent.Form) formDocView {
	out := formDocView{Lines: make([]lineDocView, len(f.Lines)), Totals: fundsOf(f.Totals), Total: money(f.Total)}
	for i, l := range f.Lines {
		out.Lines[i] = lineDocView{Item: l.Item, Undertake: l.Undertake, Quantity: l.Quantity, Funds: fundsOf(l.Funds), Total: money(l.Total),
			Units: unitViews(l.Units)}
	}
	return out
}

type formLineView struct {
	taskItemView
	Undertake bool       `json:"undertake"`
	Quantity  int64      `json:"quantity"`
	Funds     fundsView  `json:"funds"`
	Total     moneyView  `json:"total"`
	Units     []unitView `json:"units"` // 实施单位
}

type feedbackView struct {
	Seq        int       `json:"seq"`
	Text       string    `json:"text"`
	RecordedAt time.Time `json:"recorded_at"`
	ActorID    string    `json:"actor_id"`
}

type formView struct {
	RoundID      string         `json:"round_id"`
	BatchID      string         `json:"batch_id"`
	Province     string         `json:"province"`
	ProvinceName string         `json:"province_name"`
	Stage        intent.Stage   `json:"stage"`
	Deadline     time.Time      `json:"deadline"`
	Extension    *time.Time     `json:"extension,omitempty"`
	Status       intent.Status  `json:"status"`
	StatusLabel  string         `json:"status_label"`
	Late         bool           `json:"late"`
	ReturnReason string         `json:"return_reason,omitempty"`
	ReturnedAt   *time.Time     `json:"returned_at,omitempty"`
	Version      int64          `json:"version"`
	ChangedAt    *time.Time     `json:"changed_at,omitempty"`
	ChangedBy    string         `json:"changed_by,omitempty"`
	SubmittedAt  *time.Time     `json:"submitted_at,omitempty"`
	Lines        []formLineView `json:"lines"`
	Totals       fundsView      `json:"totals"`
	Total        moneyView      `json:"total"`
	Feedback     []feedbackView `json:"feedback"`
	Letter       *letterView    `json:"letter"` // the 厅函; null until recorded
}

func formViewOf(v projections.FormView) formView {
	out := formView{
		RoundID: v.RoundID, BatchID: v.BatchID, Province: v.Province.Code, ProvinceName: v.Province.Name, Stage: v.Stage,
		Deadline: v.Deadline, Extension: v.Extension, Status: v.Status, StatusLabel: exports.StatusLabel(v.Status), Late: v.Late,
		ReturnReason: v.ReturnReason, ReturnedAt: v.ReturnedAt, Version: v.Version, ChangedAt: v.ChangedAt, ChangedBy: v.ChangedBy,
		SubmittedAt: v.SubmittedAt, Totals: fundsOf(v.Totals), Total: money(v.Total),
		Lines: make([]formLineView, len(v.Lines)), Feedback: make([]feedbackView, len(v.Feedback)),
	}
	for i, l := range v.Lines {
		out.Lines[i] = formLineView{taskItemView: taskItemViews([]intent.TaskItem{l.TaskItem})[0], Undertake: l.Undertake,
			Quantity: l.Quantity, Funds: fundsOf(l.Funds), Total: money(l.Total), Units: unitViews(l.Units)}
	}
	out.Letter = letterViewOf(v.RoundID, v.Province.Code, v.Letter)
	for i, f := range v.Feedback {
		out.Feedback[i] = feedbackView{Seq: f.Seq, Text: f.Text, RecordedAt: f.RecordedAt, ActorID: f.ActorID}
	}
	return out
}

// formOf reads the form in the request's path. Errors: 404 for an unknown
// round or a province the round does not expect.
func (s *Server) formOf(r *http.Request) (projections.FormView, error) {
	v, err := projections.GetForm(r.Context(), s.pool, r.PathValue("round"), r.PathValue("province"))
	if errors.Is(err, projections.ErrRoundNotFound) {
		return v, notFound("承接意向轮次或省份不存在", err.Error())
	}
	return v, err
}

func (s *Server) getIntentForm(w http.ResponseWriter, r *http.Request) error {
	v, err := s.formOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, formViewOf(v))
	return nil
}

type historyEntryView struct {
	Seq         int           `json:"seq"`
	Action      string        `json:"action"` // save, submit, return
	ActionLabel string        `json:"action_label"`
	Status      intent.Status `json:"status"`
	Late        bool          `json:"late"`
	Reason      string        `json:"reason,omitempty"`
	RecordedAt  time.Time     `json:"recorded_at"`
	ActorID     string        `json:"actor_id"`
	Role        string        `json:"role"`
	EventID     string        `json:"event_id"`
	Form        formDocView   `json:"form"`
}

var actionLabels = map[string]string{"save": "保存草稿", "submit": "提交", "return": "退回"}

func (s *Server) intentFormHistory(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.formOf(r); err != nil {
		return err
	}
	h, err := projections.FormHistory(r.Context(), s.pool, r.PathValue("round"), r.PathValue("province"))
	if err != nil {
		return err
	}
	out := make([]historyEntryView, len(h))
	for i, e := range h {
		out[i] = historyEntryView{Seq: e.Seq, Action: e.Action, ActionLabel: actionLabels[e.Action], Status: e.Status, Late: e.Late,
			Reason: e.Reason, RecordedAt: e.RecordedAt, ActorID: e.ActorID, Role: e.Role, EventID: e.EventID, Form: formDoc(e.Form)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "province": r.PathValue("province"), "entries": out})
	return nil
}

type reminderView struct {
	Offset string    `json:"offset"`
	SentAt time.Time `json:"sent_at"`
}

type roundProvinceView struct {
	Code        string         `json:"code"`
	Name        string         `json:"name"`
	Status      intent.Status  `json:"status"`
	StatusLabel string         `json:"status_label"`
	Late        bool           `json:"late"`
	Extension   *time.Time     `json:"extension,omitempty"`
	Reminders   []reminderView `json:"reminders"`
	Letter      *letterView    `json:"letter"` // the 厅函; null until recorded
}

// getIntentRound answers a round's state: deadline, stage, extensions and
// reminders per province.
func (s *Server) getIntentRound(w http.ResponseWriter, r *http.Request) error {
	rd, err := projections.GetRound(r.Context(), s.pool, r.PathValue("round"))
	if errors.Is(err, projections.ErrRoundNotFound) {
		return notFound("承接意向轮次不存在", err.Error())
	}
	if err != nil {
		return err
	}
	ps := make([]roundProvinceView, len(rd.Provinces))
	for i, p := range rd.Provinces {
		rs := make([]reminderView, len(p.Reminders))
		for j, m := range p.Reminders {
			rs[j] = reminderView{Offset: m.Offset.String(), SentAt: m.SentAt}
		}
		ps[i] = roundProvinceView{Code: p.Code, Name: p.Name, Status: p.Status, StatusLabel: exports.StatusLabel(p.Status),
			Late: p.Late, Extension: p.Extension, Reminders: rs, Letter: letterViewOf(rd.RoundID, p.Code, p.Letter)}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"round_id": rd.RoundID, "batch_id": rd.BatchID, "deadline": rd.Deadline, "stage": rd.Stage,
		"stage_label": exports.StageLabel(rd.Stage), "reminder_offsets": offsetStrings(rd.ReminderOffsets),
		"opened_at": rd.OpenedAt, "opened_by": rd.OpenedBy, "closed_at": rd.ClosedAt, "filed_at": rd.FiledAt, "filed_early": rd.FiledEarly,
		"items": taskItemViews(rd.Items), "provinces": ps,
	})
	return nil
}

type coverageView struct {
	Quantity int64  `json:"quantity"`
	Target   int64  `json:"target"`
	Percent  string `json:"percent"` // two decimals, rounded half up in integers
}

type summaryItemView struct {
	taskItemView
	Provinces int           `json:"provinces"`
	Quantity  int64         `json:"quantity"`
	Coverage  *coverageView `json:"coverage"` // null for a task without a target
	Funds     fundsView     `json:"funds"`
	Total     moneyView     `json:"total"`
}

type missingView struct {
	Code        string        `json:"code"`
	Name        string        `json:"name"`
	Status      intent.Status `json:"status"`
	StatusLabel string        `json:"status_label"`
	Extension   *time.Time    `json:"extension,omitempty"`
	Liaison     *liaisonBrief `json:"liaison"`
}

type liaisonBrief struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	Email string `json:"email"`
}

func missingViews(ms []projections.MissingProvince) []missingView {
	out := make([]missingView, len(ms))
	for i, m := range ms {
		out[i] = missingView{Code: m.Code, Name: m.Name, Status: m.Status, StatusLabel: exports.StatusLabel(m.Status), Extension: m.Extension}
		if m.LiaisonName != "" {
			out[i].Liaison = &liaisonBrief{Name: m.LiaisonName, Phone: m.LiaisonPhone, Email: m.LiaisonEmail}
		}
	}
	return out
}

// summaryBasis says, in the answer itself, which forms the summary counts.
const summaryBasis = "仅汇总已提交的承接意向表（各省最近一次提交）；被退回的表在重新提交前不计入"

func (s *Server) summaryOf(r *http.Request) (projections.Summary, error) {
	sm, err := projections.GetSummary(r.Context(), s.pool, r.PathValue("round"))
	if errors.Is(err, projections.ErrRoundNotFound) {
		return sm, notFound("承接意向轮次不存在", err.Error())
	}
	return sm, err
}

func (s *Server) intentSummary(w http.ResponseWriter, r *http.Request) error {
	sm, err := s.summaryOf(r)
	if err != nil {
		return err
	}
	items := make([]summaryItemView, len(sm.Items))
	for i, it := range sm.Items {
		items[i] = summaryItemView{taskItemView: taskItemViews([]intent.TaskItem{it.TaskItem})[0], Provinces: it.Provinces,
			Quantity: it.Quantity, Funds: fundsOf(it.Funds), Total: money(it.Total)}
		if num, den, ok := it.Coverage(); ok {
			items[i].Coverage = &coverageView{Quantity: num, Target: den, Percent: it.CoveragePercent()}
		}
	}
	submitted := make([]province, len(sm.Submitted))
	for i, p := range sm.Submitted {
		submitted[i] = province{Code: p.Code, Name: p.Name}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"round_id": sm.RoundID, "batch_id": sm.BatchID, "stage": sm.Stage, "stage_label": exports.StageLabel(sm.Stage),
		"deadline": sm.Deadline, "basis": summaryBasis, "expected": sm.Expected, "submitted_count": len(sm.Submitted),
		"submitted": submitted, "missing": missingViews(sm.Missing), "items": items,
		"totals": fundsOf(sm.Totals), "total": money(sm.Total),
	})
	return nil
}

func (s *Server) intentMissing(w http.ResponseWriter, r *http.Request) error {
	ms, err := projections.MissingProvinces(r.Context(), s.pool, r.PathValue("round"))
	if errors.Is(err, projections.ErrRoundNotFound) {
		return notFound("承接意向轮次不存在", err.Error())
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"round_id": r.PathValue("round"), "missing": missingViews(ms)})
	return nil
}

// Content types of the exports.
const (
	contentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	contentTypeHTML = "text/html; charset=utf-8"
)

// sendFile answers a rendered export. It is rendered into memory first, so a
// failure is still answered as a JSON error rather than a truncated file.
func sendFile(w http.ResponseWriter, contentType, asciiName, name string, render func(*bytes.Buffer) error) error {
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	if name != "" {
		// RFC 6266: an ASCII name for old clients, the Chinese one for the rest.
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`,
			asciiFileName(asciiName), url.PathEscape(name)))
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

func (s *Server) intentFormXLSX(w http.ResponseWriter, r *http.Request) error {
	v, err := s.formOf(r)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeXLSX,
		fmt.Sprintf("intent-form-%s-%s.xlsx", v.RoundID, v.Province.Code),
		fmt.Sprintf("承接意向表-%s-%s.xlsx", v.Province.Name, v.RoundID),
		func(b *bytes.Buffer) error { return exports.WriteFormXLSX(b, v) })
}

func (s *Server) intentFormPrint(w http.ResponseWriter, r *http.Request) error {
	v, err := s.formOf(r)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeHTML, "", "", func(b *bytes.Buffer) error { return exports.WriteFormHTML(b, v) })
}

func (s *Server) intentSummaryXLSX(w http.ResponseWriter, r *http.Request) error {
	sm, err := s.summaryOf(r)
	if err != nil {
		return err
	}
	return sendFile(w, contentTypeXLSX,
		fmt.Sprintf("intent-summary-%s.xlsx", sm.RoundID),
		fmt.Sprintf("承接意向汇总表-%s.xlsx", sm.RoundID),
		func(b *bytes.Buffer) error { return exports.WriteSummaryXLSX(b, sm) })
}

func provinceName(code string) string { return identity.Provinces[code] }

// asciiFileName keeps a header's plain file name to characters that need no
// quoting; ids of rounds written by other means than the API could hold any.
func asciiFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, s)
}

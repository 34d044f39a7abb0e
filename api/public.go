package api

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/xuri/excelize/v2"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/projections"
	"keytask/workflows"
)

//go:embed public_templates/*.html
var publicFS embed.FS

var publicPages = template.Must(template.New("").Funcs(template.FuncMap{
	"bj": func(t time.Time) string { return t.In(shanghai).Format("2006年01月02日 15:04") },
}).ParseFS(publicFS, "public_templates/*.html"))

// publicRoutes are the pages the public reads without logging in, and the
// real-name objection form. They never show who objected.
func (s *Server) publicRoutes() []Route {
	return []Route{
		{Pattern: "GET /public/notices/{batch}", Public: true, handle: s.publicNotice},
		{Pattern: "POST /public/notices/{batch}/objections", Public: true, handle: s.publicObjection},
		{Pattern: "GET /public/publications/{batch}", Public: true, handle: s.publicPublication},
	}
}

// publicEntry is one line of a public list: no objector, no expert.
type publicEntry struct {
	No          int
	Application string
	Title       string
	School      string
	Province    string
}

type noticePage struct {
	BatchID, TaskItem, TaskType string
	Start, End                  time.Time
	WorkingDays                 int
	Open                        bool
	List                        []publicEntry
	Errors                      map[string]string
	Form                        map[string]string
	Filed                       string
	Token                       string // the form's idempotency token
	Nonce                       string // the CSP nonce of the page's style
}

func publicList(b projections.SelectionBatchRecord, ids []string) []publicEntry {
	byID := map[string]projections.BatchApplicationRecord{}
	for _, a := range b.Applications {
		byID[a.ApplicationID] = a
	}
	out := make([]publicEntry, 0, len(ids))
	for i, id := range ids {
		a := byID[id]
		out = append(out, publicEntry{No: i + 1, Application: id, Title: a.Title, School: a.School, Province: publicProvince(a.Province)})
	}
	return out
}

func publicProvince(code string) string {
	if n, ok := identity.Provinces[code]; ok {
		return n
	}
	return code
}

// noticeBatch loads a batch that is or was on public notice.
func (s *Server) noticeBatch(r *http.Request) (projections.SelectionBatchRecord, error) {
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrSelectionBatchNotFound) || (err == nil && b.Notice == nil) {
		return b, notFound("该批次没有公示", fmt.Sprintf("batch %s has no notice", clipText(r.PathValue("batch"))))
	}
	return b, err
}

func (s *Server) renderNotice(w http.ResponseWriter, r *http.Request, status int, b projections.SelectionBatchRecord, errs, form map[string]string, filed string) error {
	page := noticePage{BatchID: b.BatchID, TaskItem: b.TaskItem, TaskType: b.TaskType, Start: b.Notice.Start, End: b.Notice.End,
		WorkingDays: b.Notice.WorkingDays, Open: b.Stage == selection.StageNotice && s.batchNow().Before(b.Notice.End),
		List: publicList(b, b.Notice.List), Errors: errs, Form: form, Filed: filed, Token: form[formToken],
		Nonce: nonceOf(r.Context())}
	if page.Token == "" {
		// A fresh form for a fresh objection; a form answered with errors keeps
		// its token, since nothing was filed from it.
		page.Token = uuid.NewString()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return publicPages.ExecuteTemplate(w, "notice.html", page)
}

func (s *Server) publicNotice(w http.ResponseWriter, r *http.Request) error {
	b, err := s.noticeBatch(r)
	if err != nil {
		return err
	}
	return s.renderNotice(w, r, http.StatusOK, b, nil, nil, "")
}

var (
	phonePattern  = regexp.MustCompile(`^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$`)
	idCardPattern = regexp.MustCompile(`^\d{17}[\dXx]$`)
)

// validateObjection checks the form and returns the field errors in Chinese.
func validateObjection(f map[string]string, list []string) map[string]string {
	errs := map[string]string{}
	name := f["name"]
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		errs["name"] = "异议须实名提出，请填写真实姓名"
	case n > 50:
		errs["name"] = "姓名不能超过 50 字"
	}
	c := f["contact"]
	if c == "" {
		errs["contact"] = "请填写手机号码或电子邮箱"
	} else if _, err := mail.ParseAddress(c); !phonePattern.MatchString(c) && (err != nil || !strings.Contains(c, "@") || strings.ContainsAny(c, " <>")) {
		errs["contact"] = "联系方式应为手机号码（如 13800000000）、固定电话或电子邮箱"
	}
	if id := f["id_card"]; id != "" && !idCardPattern.MatchString(id) {
		errs["id_card"] = "身份证号码应为 18 位（末位可为 X），可不填"
	}
	if app := f["application"]; app == "" {
		errs["application"] = "请选择异议所针对的申报"
	} else if !containsStr(list, app) {
		errs["application"] = "所选申报不在公示名单中"
	}
	switch n := utf8.RuneCountInString(f["text"]); {
	case n == 0:
		errs["text"] = "请填写异议内容及理由"
	case n > selection.MaxTextRunes:
		errs["text"] = fmt.Sprintf("异议内容不能超过 %d 字", selection.MaxTextRunes)
	}
	return errs
}

func containsStr(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// publicObjection files a real-name objection from the notice page's form and
// answers the page again, with field errors or the objection's number.
func (s *Server) publicObjection(w http.ResponseWriter, r *http.Request) error {
	b, err := s.noticeBatch(r)
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	if err := formNUL(r); err != nil {
		return err
	}
	form := map[string]string{}
	for _, k := range []string{"name", "contact", "id_card", "application", "text", formToken} {
		form[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	if errs := validateObjection(form, b.Notice.List); len(errs) > 0 {
		return s.renderNotice(w, r, http.StatusUnprocessableEntity, b, errs, form, "")
	}
	contact := form["contact"]
	if form["id_card"] != "" {
		contact += "；身份证号 " + form["id_card"]
	}
	objection := objectionID(b.BatchID, form)
	cmd := workflows.ObjectionCommand{ObjectionID: objection, Application: form["application"], Name: form["name"], Contact: contact,
		Text: form["text"], Actor: events.Metadata{ActorID: "public", Role: "public"}}
	// The objection's id is the request's idempotency key too, so a form sent
	// twice is one Workflow Update; the batch answers a repeat from a later run
	// with the same id and records nothing.
	r.Header.Set(headerIdempotencyKey, objection)
	var id string
	if err := s.batchUpdate(r, workflows.UpdateFileObjection, cmd, &id); err != nil {
		var fe *domain.FieldError
		var ce *domain.ConflictError
		// The batch refused: the answered form gets a fresh token, so that a
		// token once refused (say, filed against another application) does
		// not stick to the form.
		delete(form, formToken)
		switch {
		case errors.As(err, &fe):
			return s.renderNotice(w, r, http.StatusUnprocessableEntity, b, map[string]string{fe.Field: fe.Message}, form, "")
		case errors.As(err, &ce):
			return s.renderNotice(w, r, http.StatusConflict, b, map[string]string{"": ce.Message}, form, "")
		}
		return err
	}
	return s.renderNotice(w, r, http.StatusCreated, b, nil, nil, id)
}

// formToken is the hidden field of the objection form that makes it
// idempotent: each rendering of the form carries a new random token.
const formToken = "form_token"

// objectionID derives an objection's id from its form: from the form's token,
// or, when a client sends none (or a malformed one), from what it says, so
// that the same objection sent twice is filed once.
func objectionID(batch string, form map[string]string) string {
	if t := form[formToken]; traceIDPattern.MatchString(t) {
		return events.DeriveID("public-objection", batch, "token", t).String()
	}
	return events.DeriveID("public-objection", batch, "content", form["name"], form["contact"], form["id_card"], form["application"],
		form["text"]).String()
}

// publicPublication answers the published list as a page, or with the .xlsx
// suffix as a workbook.
func (s *Server) publicPublication(w http.ResponseWriter, r *http.Request) error {
	id, xlsx := strings.CutSuffix(r.PathValue("batch"), ".xlsx")
	b, err := projections.GetSelectionBatch(r.Context(), s.pool, id)
	if errors.Is(err, projections.ErrSelectionBatchNotFound) || (err == nil && b.Published == nil) {
		return notFound("该批次尚未公布", "batch "+clipText(id)+" is not published")
	}
	if err != nil {
		return err
	}
	list := publicList(b, b.Published)
	if !xlsx {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		return publicPages.ExecuteTemplate(w, "publication.html", map[string]any{"B": b, "List": list, "Nonce": nonceOf(r.Context())})
	}
	f := excelize.NewFile()
	defer f.Close()
	sheet := "公布名单"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	rows := [][]any{{"序号", "申报编号", "项目名称", "申报单位", "省份"}}
	for _, e := range list {
		rows = append(rows, []any{e.No, e.Application, e.Title, e.School, e.Province})
	}
	for i, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="publication-%s.xlsx"`, b.BatchID))
	return f.Write(w)
}

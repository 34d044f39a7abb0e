package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/policy"
	"keytask/projections"
	"keytask/workflows"
)

// intentPageRoutes are the pages of the undertaking-intent round.
func (s *Server) intentPageRoutes() []Route {
	const form = "/web/intent-rounds/{round}/provinces/{province}"
	return []Route{
		{Pattern: "GET /web/intent-rounds/{round}", Action: policy.ActionRead, Resource: national(kindIntentRound), page: true, handle: s.roundPage},
		{Pattern: "GET /web/intent-rounds/{round}/summary", Action: policy.ActionRead, Resource: national(kindIntentRound), page: true, handle: s.summaryPage},
		{Pattern: "GET " + form, Action: policy.ActionRead, Resource: provinceForm, page: true, handle: s.intentFormPage},
		{Pattern: "POST " + form, Action: policy.ActionWrite, Resource: provinceForm, page: true, handle: s.postIntentForm},
		{Pattern: "POST " + form + "/return", Action: policy.ActionAdminister, Resource: provinceForm, page: true, handle: s.postReturnIntent},
		{Pattern: "POST " + form + "/letter", Action: policy.ActionWrite, Resource: provinceForm, page: true, handle: s.postLetter},
		{Pattern: "POST " + form + "/letter/arrived", Action: policy.ActionAdminister, Resource: provinceForm, page: true, handle: s.postLetterArrived},
	}
}

func intentFormPath(round, province string) string {
	return "/web/intent-rounds/" + url.PathEscape(round) + "/provinces/" + url.PathEscape(province)
}

// roundNotFound turns the read model's "no such round" into a page's 404.
func roundNotFound(err error) error {
	if errors.Is(err, projections.ErrRoundNotFound) {
		return notFound("承接意向轮次不存在", err.Error())
	}
	return err
}

func (s *Server) roundPage(w http.ResponseWriter, r *http.Request) error {
	round, err := projections.GetRound(r.Context(), s.pool, r.PathValue("round"))
	if err != nil {
		return roundNotFound(err)
	}
	return s.render(w, r, http.StatusOK, "intent_round.html", pageData{Title: "承接意向轮次 " + round.RoundID, Data: round})
}

func (s *Server) summaryPage(w http.ResponseWriter, r *http.Request) error {
	sum, err := projections.GetSummary(r.Context(), s.pool, r.PathValue("round"))
	if err != nil {
		return roundNotFound(err)
	}
	return s.render(w, r, http.StatusOK, "intent_summary.html", pageData{Title: "全国承接意向汇总", Data: sum, Print: true})
}

// intentFormData is the intent form page.
type intentFormData struct {
	Form      projections.FormView
	Path      string
	Editable  bool // the user is the province and the round takes forms
	CanReturn bool
	// CanLetter: the province may record the 厅函 of its submitted form;
	// CanArrive: the ministry may mark a recorded one arrived.
	CanLetter bool
	CanArrive bool
	ScanURL   string
	// Values are what the inputs show: the saved form, or what the user typed
	// when a save was refused.
	Values map[string]string
}

func (s *Server) intentFormPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderIntentForm(w, r, http.StatusOK, nil, nil)
}

func (s *Server) renderIntentForm(w http.ResponseWriter, r *http.Request, status int, typed url.Values, errs map[string]string) error {
	f, err := projections.GetForm(r.Context(), s.pool, r.PathValue("round"), r.PathValue("province"))
	if err != nil {
		return roundNotFound(err)
	}
	p := principal(r.Context())
	d := intentFormData{Form: f, Path: intentFormPath(f.RoundID, f.Province.Code), Values: map[string]string{},
		Editable:  p.Role == identity.RoleProvince && f.Stage == intent.StageOpen && f.Status != intent.StatusSubmitted,
		CanReturn: p.Role == identity.RoleMinistry && f.Status == intent.StatusSubmitted && f.Stage != intent.StageFiled,
		CanLetter: p.Role == identity.RoleProvince && f.Status == intent.StatusSubmitted && (f.Letter == nil || f.Letter.ArrivedAt == nil),
		CanArrive: p.Role == identity.RoleMinistry && f.Letter != nil && f.Letter.ArrivedAt == nil}
	if f.Letter != nil {
		d.ScanURL = "/api/v1/intent-rounds/" + url.PathEscape(f.RoundID) + "/provinces/" + url.PathEscape(f.Province.Code) + "/letter/scan"
	}
	for i, l := range f.Lines {
		at := fmt.Sprintf("lines[%d]", i)
		if f.Status != intent.StatusNone {
			d.Values[at+".undertake"] = fmt.Sprint(l.Undertake)
			if l.Quantity > 0 {
				d.Values[at+".quantity"] = fmt.Sprint(l.Quantity)
			}
			for _, src := range intent.Sources {
				if y := l.Funds.Get(src); y != 0 {
					d.Values[at+".funds."+string(src)] = y.Wan()
				}
			}
			codes := make([]string, len(l.Units))
			for j, u := range l.Units {
				codes[j] = u.Code
			}
			d.Values[at+".units"] = strings.Join(codes, " ")
		}
	}
	for k := range typed {
		if strings.HasPrefix(k, "lines[") {
			d.Values[k] = typed.Get(k)
		}
	}
	title := fmt.Sprintf("%s承接意向表（%s）", f.Province.Name, f.RoundID)
	return s.render(w, r, status, "intent_form.html", pageData{Title: title, Data: d, Errors: errs, Print: true,
		Error: firstUnplaced(errs)})
}

// firstUnplaced is a message for a refusal the form has no control for.
func firstUnplaced(errs map[string]string) string {
	if msg, ok := errs[""]; ok {
		return msg
	}
	if msg, ok := errs["total"]; ok {
		return msg
	}
	if len(errs) > 0 {
		return "表单有误，请按提示修改后重新提交"
	}
	return ""
}

// formInput reads the posted form into the API's command input: one line per
// catalogue item, each value passed on as typed so that the domain's
// validation, not this page, judges it and names the field.
func formInput(items []projections.FormLine, v url.Values) (intent.FormInput, error) {
	in := intent.FormInput{Lines: make([]intent.LineInput, len(items))}
	raw := func(s string) json.RawMessage {
		b, _ := json.Marshal(strings.TrimSpace(s)) // a string always marshals
		return b
	}
	for i, it := range items {
		at := fmt.Sprintf("lines[%d]", i)
		li := intent.LineInput{Item: it.Item, Funds: map[string]json.RawMessage{}}
		switch v.Get(at + ".undertake") {
		case "true":
			li.Undertake = json.RawMessage("true")
		default:
			li.Undertake = json.RawMessage("false")
		}
		if q := strings.TrimSpace(v.Get(at + ".quantity")); q != "" {
			li.Quantity = json.RawMessage(q)
			if !json.Valid(li.Quantity) {
				li.Quantity = raw(q)
			}
		}
		for _, src := range intent.Sources {
			if m := strings.TrimSpace(v.Get(at + ".funds." + string(src))); m != "" {
				li.Funds[string(src)] = raw(m)
			}
		}
		// 实施单位: school codes separated by spaces, commas or 、.
		if codes := strings.FieldsFunc(v.Get(at+".units"), func(r rune) bool {
			return r == ',' || r == '，' || r == '、' || r == ';' || r == '；' || unicode.IsSpace(r)
		}); len(codes) > 0 {
			li.Units, _ = json.Marshal(codes) // strings always marshal
		}
		in.Lines[i] = li
	}
	return in, nil
}

// postIntentForm saves the province's draft or submits it, through the same
// workflow update as PUT …/draft and POST …/submit.
func (s *Server) postIntentForm(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	f, err := projections.GetForm(r.Context(), s.pool, r.PathValue("round"), r.PathValue("province"))
	if err != nil {
		return roundNotFound(err)
	}
	in, err := formInput(f.Lines, r.PostForm)
	if err != nil {
		return err
	}
	name, done := workflows.UpdateSaveIntentDraft, "草稿已保存"
	if r.PostFormValue("action") == "submit" {
		name, done = workflows.UpdateSubmitIntent, "承接意向表已提交"
	}
	schools, err := s.schoolsNamed(r.Context(), in)
	if err != nil {
		return err
	}
	cmd := workflows.FormCommand{Province: r.PathValue("province"), Input: in, Schools: schools, Actor: metadata(r.Context())}
	var res workflows.FormResult
	if err := s.update(r, name, cmd, &res); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderIntentForm(w, r, http.StatusUnprocessableEntity, r.PostForm, errs)
		}
		return err
	}
	s.awaitReadModel(r, func() bool {
		now, err := projections.GetForm(r.Context(), s.pool, f.RoundID, cmd.Province)
		return err == nil && now.Version >= res.Version
	})
	return redirectOK(w, r, intentFormPath(f.RoundID, cmd.Province), done)
}

// postLetter records the province's 厅函 from the form page, through the same
// code as POST …/letter.
func (s *Server) postLetter(w http.ResponseWriter, r *http.Request) error {
	cmd, err := s.recordLetterFrom(w, r)
	if err != nil {
		if errs, ok := fieldErrors(err); ok {
			status := http.StatusUnprocessableEntity
			if ce := (*domain.ConflictError)(nil); errors.As(err, &ce) {
				status = http.StatusConflict
			}
			return s.renderIntentForm(w, r, status, nil, errs)
		}
		return err
	}
	s.awaitReadModel(r, func() bool { return s.letterRecorded(r, cmd) })
	return redirectOK(w, r, intentFormPath(r.PathValue("round"), cmd.Province), "厅函已登记")
}

// postLetterArrived marks the province's 厅函 arrived, through the same
// update as POST …/letter/arrived.
func (s *Server) postLetterArrived(w http.ResponseWriter, r *http.Request) error {
	cmd := workflows.ArrivalCommand{Province: r.PathValue("province"), Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateLetterArrived, cmd, nil); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderIntentForm(w, r, http.StatusConflict, nil, errs)
		}
		return err
	}
	round := r.PathValue("round")
	s.awaitReadModel(r, func() bool {
		now, err := projections.GetForm(r.Context(), s.pool, round, cmd.Province)
		return err == nil && now.Letter != nil && now.Letter.ArrivedAt != nil
	})
	return redirectOK(w, r, intentFormPath(round, cmd.Province), "已登记收到该省厅函")
}

// postReturnIntent returns a submitted form to its province with a reason.
func (s *Server) postReturnIntent(w http.ResponseWriter, r *http.Request) error {
	cmd := workflows.ReturnCommand{Province: r.PathValue("province"), Reason: r.PostFormValue("reason"), Actor: metadata(r.Context())}
	if err := s.update(r, workflows.UpdateReturnIntent, cmd, nil); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderIntentForm(w, r, http.StatusUnprocessableEntity, nil, errs)
		}
		return err
	}
	round := r.PathValue("round")
	s.awaitReadModel(r, func() bool {
		now, err := projections.GetForm(r.Context(), s.pool, round, cmd.Province)
		return err == nil && now.Status == intent.StatusReturned
	})
	return redirectOK(w, r, intentFormPath(round, cmd.Province), "已退回该省承接意向表")
}

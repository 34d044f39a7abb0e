package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"keytask/app"
	"keytask/attachments"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/projections"
)

// applicationPageRoutes are a school's application pages: its list, a new
// application, and the form with its attachments.
func (s *Server) applicationPageRoutes() []Route {
	const app = "/web/applications/{id}"
	return []Route{
		{Pattern: "GET /web/applications", Action: policy.ActionRead, Resource: ownApplications, page: true, handle: s.applicationsPage},
		{Pattern: "POST /web/applications", Action: policy.ActionWrite, Resource: newApplication, page: true, handle: s.postNewApplication},
		{Pattern: "GET " + app, Action: policy.ActionRead, Resource: s.applicationResource(false), page: true, handle: s.applicationPage},
		{Pattern: "POST " + app, Action: policy.ActionWrite, Resource: s.applicationResource(true), page: true, handle: s.postApplication},
		{Pattern: "POST " + app + "/attachments", Action: policy.ActionWrite, Resource: s.applicationResource(true), page: true, handle: s.postAttachment},
		{Pattern: "POST " + app + "/submit", Action: policy.ActionWrite, Resource: s.applicationResource(true), page: true, handle: s.postSubmitApplication},
	}
}

func applicationPath(id string) string { return "/web/applications/" + url.PathEscape(id) }

type applicationsData struct {
	Applications []projections.ApplicationRecord
	Batches      []batchLink // batches taking applications
	Provinces    []projections.Province
	Key          string // idempotency key of the new-application form
}

func (s *Server) applicationsPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderApplications(w, r, http.StatusOK, nil, nil)
}

func (s *Server) renderApplications(w http.ResponseWriter, r *http.Request, status int, typed url.Values, errs map[string]string) error {
	ctx, p := r.Context(), principal(r.Context())
	rows, err := projections.ListApplications(ctx, s.pool, projections.ApplicationFilter{})
	if err != nil {
		return err
	}
	d := applicationsData{Key: randomToken()}
	for _, a := range rows {
		owner := selection.Application{ID: a.ApplicationID, Province: a.Province, School: a.School, Applicant: a.Applicant}
		if policy.Decide(p, policy.ActionRead, applicationOwner(owner, false)) == nil {
			d.Applications = append(d.Applications, a)
		}
	}
	q, err := s.pool.Query(ctx, `SELECT batch_id, task_item, stage FROM selection_batches WHERE stage = 'recommendation' ORDER BY opened_at DESC, batch_id`)
	if err != nil {
		return err
	}
	for q.Next() {
		var l batchLink
		if err := q.Scan(&l.BatchID, &l.TaskItem, &l.Stage); err != nil {
			q.Close()
			return err
		}
		d.Batches = append(d.Batches, l)
	}
	if err := q.Err(); err != nil {
		return err
	}
	for _, code := range slices.Sorted(maps.Keys(identity.Provinces)) {
		d.Provinces = append(d.Provinces, projections.Province{Code: code, Name: identity.Provinces[code]})
	}
	return s.render(w, r, status, "application_list.html", pageData{Title: "申报", Data: d, Form: typed, Errors: errs,
		Error: firstUnplaced(errs)})
}

// postNewApplication creates an application through the API's command. The
// form carries its own idempotency key, so a double click creates one.
func (s *Server) postNewApplication(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	f := r.PostForm
	req := createApplicationRequest{BatchID: f.Get("batch_id"), Title: f.Get("title"), Province: f.Get("province"), School: f.Get("school")}
	created, err := s.app.CreateApplication(r.Context(), req.command(r, f.Get("key")))
	if err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderApplications(w, r, http.StatusUnprocessableEntity, f, errs)
		}
		return err
	}
	s.awaitApplication(r, created.ApplicationID, func(projections.ApplicationRecord) bool { return true })
	return redirectOK(w, r, applicationPath(created.ApplicationID), "申报已创建，请填写申报内容并上传附件")
}

// awaitApplication waits for the read model to show the application as caught says.
func (s *Server) awaitApplication(r *http.Request, id string, caught func(projections.ApplicationRecord) bool) {
	s.awaitReadModel(r, func() bool {
		a, err := projections.GetApplication(r.Context(), s.pool, id)
		return err == nil && caught(a)
	})
}

type applicationData struct {
	App      projections.ApplicationRecord
	Schema   selection.Schema
	Values   map[string]string
	Editable bool
	Path     string
	MaxSize  int64
	Key      string // idempotency key of the upload form
}

func (s *Server) applicationPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderApplication(w, r, http.StatusOK, nil, nil)
}

func (s *Server) renderApplication(w http.ResponseWriter, r *http.Request, status int, typed url.Values, errs map[string]string) error {
	a, err := projections.GetApplication(r.Context(), s.pool, r.PathValue("id"))
	if errors.Is(err, projections.ErrApplicationNotFound) {
		return notFound("申报不存在", err.Error())
	}
	if err != nil {
		return err
	}
	own := applicationOwner(selection.Application{ID: a.ApplicationID, Province: a.Province, School: a.School, Applicant: a.Applicant}, true)
	d := applicationData{App: a, Schema: selection.Schemas[a.TaskType], Values: map[string]string{}, Path: applicationPath(a.ApplicationID),
		Editable: (a.Status == selection.StatusDraft || a.Status == selection.StatusReturned) &&
			policy.Decide(principal(r.Context()), policy.ActionWrite, own) == nil,
		MaxSize: s.files.MaxSize(), Key: randomToken()}
	d.Values["title"] = a.Title
	for k, v := range a.Fields {
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			d.Values["fields."+k] = strings.Join(parts, "，")
		default:
			d.Values["fields."+k] = fmt.Sprint(v)
		}
	}
	for k := range typed {
		if k == "title" || strings.HasPrefix(k, "fields.") {
			d.Values[k] = typed.Get(k)
		}
	}
	return s.render(w, r, status, "application_form.html", pageData{Title: "申报：" + a.Title, Data: d, Errors: errs,
		Error: firstUnplaced(errs), Print: true})
}

// fieldsInput turns the typed fields into the API's raw values: whole numbers
// as JSON numbers, lists of schools split at commas, everything else as text,
// so the schema's own parser judges them and names the field.
func fieldsInput(schema selection.Schema, f url.Values) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, fd := range schema.Fields {
		v := strings.TrimSpace(f.Get("fields." + fd.Key))
		if v == "" {
			continue
		}
		var raw []byte
		switch fd.Kind {
		case selection.FieldCount, selection.FieldYear:
			if strings.Trim(v, "0123456789") == "" {
				raw = []byte(v)
			}
		case selection.FieldSchools:
			var ids []string
			for _, id := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '、' }) {
				ids = append(ids, id)
			}
			raw, _ = json.Marshal(ids)
		}
		if raw == nil {
			raw, _ = json.Marshal(v)
		}
		out[fd.Key] = raw
	}
	return out
}

// postApplication saves the title and fields through the API's edit command.
func (s *Server) postApplication(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return badRequest("", "无法读取表单", err.Error())
	}
	a, err := projections.GetApplication(r.Context(), s.pool, r.PathValue("id"))
	if err != nil {
		return notFound("申报不存在", err.Error())
	}
	_, _, err = s.app.EditApplication(r.Context(), app.EditApplication{Request: appRequest(r, ""), ApplicationID: a.ApplicationID,
		Title: r.PostForm.Get("title"), Fields: fieldsInput(selection.Schemas[a.TaskType], r.PostForm)})
	if err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderApplication(w, r, http.StatusUnprocessableEntity, r.PostForm, errs)
		}
		return err
	}
	s.awaitApplication(r, a.ApplicationID, func(now projections.ApplicationRecord) bool { return now.UpdatedAt.After(a.UpdatedAt) })
	return redirectOK(w, r, applicationPath(a.ApplicationID), "申报内容已保存")
}

// postSubmitApplication submits through the API's submit command.
func (s *Server) postSubmitApplication(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.app.SubmitApplication(r.Context(), app.SubmitApplication{Request: appRequest(r, ""), ApplicationID: id}); err != nil {
		if errs, ok := fieldErrors(err); ok {
			return s.renderApplication(w, r, http.StatusUnprocessableEntity, nil, errs)
		}
		return err
	}
	s.awaitApplication(r, id, func(a projections.ApplicationRecord) bool { return a.Status == selection.StatusSubmitted })
	return redirectOK(w, r, applicationPath(id), "申报已提交")
}

// postAttachment uploads a file through the API's attach command, under the
// idempotency key the form carries. The page's multipart form is read whole
// (it also carries the CSRF token), bounded by the attachment limit.
func (s *Server) postAttachment(w http.ResponseWriter, r *http.Request) error {
	var file io.Closer
	defer func() {
		if file != nil {
			file.Close()
		}
	}()
	open := func() (string, io.Reader, error) {
		if r.MultipartForm == nil || len(r.MultipartForm.File[attachments.Field]) == 0 {
			return "", nil, domain.Invalid(attachments.Field, "请选择要上传的文件", "no file in the form")
		}
		fh := r.MultipartForm.File[attachments.Field][0]
		f, err := fh.Open()
		if err != nil {
			return "", nil, err
		}
		file = f
		return fh.Filename, f, nil
	}
	id := r.PathValue("id")
	att, err := s.app.AttachFile(r.Context(), app.AttachFile{Request: appRequest(r, r.PostFormValue("key")), ApplicationID: id, Open: open})
	if err != nil {
		if errs, ok := fieldErrors(err); ok {
			// The form's key was spent on another file: a form sent again after going back.
			if _, spent := errs[headerIdempotencyKey]; spent {
				errs = map[string]string{attachments.Field: "此上传表单已提交过另一个文件，请刷新页面后重新上传"}
			}
			return s.renderApplication(w, r, http.StatusUnprocessableEntity, nil, errs)
		}
		return err
	}
	if !att.Replayed {
		s.awaitApplication(r, id, func(now projections.ApplicationRecord) bool {
			return slices.ContainsFunc(now.Attachments, func(x projections.ApplicationAttachmentRecord) bool { return x.SHA256 == att.SHA256 })
		})
	}
	return redirectOK(w, r, applicationPath(id), "附件“"+att.Name+"”已上传")
}

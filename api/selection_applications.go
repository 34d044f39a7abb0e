package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"keytask/app"
	"keytask/attachments"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/projections"
)

const kindExpert policy.Kind = "expert"

// selectionRoutes are the endpoints of applications (申报), their attachments
// and the expert pool (专家库).
func (s *Server) selectionRoutes() []Route {
	const (
		read  = policy.ActionRead
		write = policy.ActionWrite
		admin = policy.ActionAdminister
		app   = "/api/v1/applications/{id}"
	)
	return []Route{
		{Pattern: "POST /api/v1/applications", Action: write, Resource: newApplication, handle: s.createApplication, Request: createApplicationRequest{}},
		{Pattern: "GET /api/v1/applications", Action: read, Resource: ownApplications, handle: s.listApplications},
		{Pattern: "GET " + app, Action: read, Resource: s.applicationResource(false), handle: s.getApplication},
		{Pattern: "PUT " + app, Action: write, Resource: s.applicationResource(true), handle: s.editApplication, Request: editApplicationRequest{}},
		{Pattern: "POST " + app + "/attachments", Action: write, Resource: s.applicationResource(true), handle: s.attachFile},
		{Pattern: "POST " + app + "/submit", Action: write, Resource: s.applicationResource(true), handle: s.submitApplication},
		{Pattern: "GET /api/v1/attachments/{sha256}", Action: read, Resource: s.attachmentResource, handle: s.getAttachment},

		{Pattern: "POST /api/v1/experts", Action: admin, Resource: national(kindExpert), handle: s.registerExpert, Request: selection.ExpertRegistered{}},
		{Pattern: "PUT /api/v1/experts/{expert}", Action: admin, Resource: national(kindExpert), handle: s.updateExpert, Request: selection.ExpertRegistered{}},
		{Pattern: "GET /api/v1/experts", Action: read, Resource: national(kindExpert), handle: s.listExperts},
	}
}

// newApplication is the application a principal would own by filing one: a
// school's own, or a province's. The policy refuses everyone else.
func newApplication(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	r := policy.Resource{Kind: policy.KindApplication, ID: "new"}
	switch p.Role {
	case identity.RoleSchool:
		r.School = p.Organisation
	case identity.RoleProvince:
		r.Province = p.Organisation
	}
	return r, nil
}

// ownApplications is the list a principal asks for; the handler keeps only the
// rows the policy lets them read.
func ownApplications(_ *http.Request, p identity.Principal) (policy.Resource, error) {
	r, _ := newApplication(nil, p)
	r.ID = "list"
	return r, nil
}

// applicationOwner describes an application for the policy. For reading, its
// province and (when a school filed it) its school; for writing, its applicant
// alone, so that a province never edits a school's declaration.
func applicationOwner(a selection.Application, write bool) policy.Resource {
	r := policy.Resource{Kind: policy.KindApplication, ID: a.ID, Province: a.Province}
	if a.Applicant.Role == identity.RoleSchool {
		r.School = a.School
		if write {
			r.Province = ""
		}
	}
	return r
}

// applicationResource reads the application's stream, which knows its owner
// even before the read model does.
func (s *Server) applicationResource(write bool) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(r *http.Request, _ identity.Principal) (policy.Resource, error) {
		a, err := s.loadApplication(r)
		if err != nil {
			return policy.Resource{}, err
		}
		return applicationOwner(a, write), nil
	}
}

// loadApplication folds the stream of the application in the path. Errors:
// 404 when there is none.
func (s *Server) loadApplication(r *http.Request) (selection.Application, error) {
	return s.app.Application(r.Context(), r.PathValue("id"))
}

type createApplicationRequest struct {
	BatchID  string                     `json:"batch_id"`
	Title    string                     `json:"title"`
	School   string                     `json:"school"`   // a province filing: the lead school
	Province string                     `json:"province"` // a school filing: its province
	Fields   map[string]json.RawMessage `json:"fields"`
}

// createApplication starts an application. The Idempotency-Key is required:
// the application's id derives from it, so a retry appends nothing twice.
func (s *Server) createApplication(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	if key == "" {
		return badRequest(headerIdempotencyKey, app.ErrKeyRequired.Message, app.ErrKeyRequired.Detail)
	}
	var req createApplicationRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	created, err := s.app.CreateApplication(r.Context(), req.command(r, key))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if created.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"application_id": created.ApplicationID, "batch_id": created.BatchID, "task_type": created.TaskType,
		"school": created.School, "province": created.Province, "title": created.Title, "status": selection.StatusDraft, "replayed": created.Replayed})
	return nil
}

func (req createApplicationRequest) command(r *http.Request, key string) app.CreateApplication {
	return app.CreateApplication{Request: appRequest(r, key), By: principal(r.Context()), BatchID: req.BatchID, Title: req.Title,
		School: req.School, Province: req.Province, Fields: req.Fields}
}

type editApplicationRequest struct {
	Title  string                     `json:"title"`
	Fields map[string]json.RawMessage `json:"fields"`
}

// editApplication replaces the title and fields of a draft (or returned)
// application. Unchanged content appends nothing.
func (s *Server) editApplication(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req editApplicationRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	edited, changed, err := s.app.EditApplication(r.Context(), app.EditApplication{Request: appRequest(r, key),
		ApplicationID: r.PathValue("id"), Title: req.Title, Fields: req.Fields})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_id": edited.ApplicationID, "title": edited.Title, "changed": changed})
	return nil
}

// attachFile stores the multipart field "file" by its content hash and
// attaches it to the application, streaming the part into the store. The same
// content attached again appends nothing.
func (s *Server) attachFile(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	// Too large is 413, with the store's message that names the limit.
	tl := attachments.TooLarge(s.files.MaxSize())
	var fe *domain.FieldError
	errors.As(tl, &fe)
	tooLarge := &httpError{status: http.StatusRequestEntityTooLarge, field: fe.Field, message: fe.Message, detail: tl.Error()}
	// The multipart envelope adds a little to the file; anything beyond that is refused unread.
	r.Body = http.MaxBytesReader(w, r.Body, s.files.MaxSize()+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest(attachments.Field, "请以 multipart/form-data 上传文件，字段名为 file", "not a multipart request: "+err.Error())
	}
	open := func() (string, io.Reader, error) {
		for {
			part, err := mr.NextPart()
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return "", nil, tooLarge
			case err != nil:
				return "", nil, domain.Invalid(attachments.Field, "请选择要上传的文件（字段名 file）", "no file part: "+err.Error())
			case part.FormName() == attachments.Field:
				return part.FileName(), part, nil
			}
		}
	}
	att, err := s.app.AttachFile(r.Context(), app.AttachFile{Request: appRequest(r, key), ApplicationID: r.PathValue("id"), Open: open})
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.As(err, &tl):
		return tooLarge
	case err != nil:
		return err
	}
	status := http.StatusCreated
	if att.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"application_id": att.ApplicationID, "attachment_id": att.AttachmentID, "sha256": att.SHA256,
		"name": att.Name, "media_type": att.MediaType, "size": att.Size, "replayed": att.Replayed})
	return nil
}

// submitApplication submits a complete application.
func (s *Server) submitApplication(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	sub, err := s.app.SubmitApplication(r.Context(), app.SubmitApplication{Request: appRequest(r, key), ApplicationID: r.PathValue("id")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_id": sub.ApplicationID, "status": selection.StatusSubmitted, "submitted_at": sub.At})
	return nil
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request) error {
	a, err := projections.GetApplication(r.Context(), s.pool, r.PathValue("id"))
	if errors.Is(err, projections.ErrApplicationNotFound) {
		return notFound("申报不存在", err.Error())
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// listApplications answers the applications the principal may read, filtered
// by task type (task=) and province (province=).
func (s *Server) listApplications(w http.ResponseWriter, r *http.Request) error {
	q := map[string]string{}
	for _, k := range []string{"task", "province", "batch", "status"} {
		v, err := queryText(r, k)
		if err != nil {
			return err
		}
		q[k] = v
	}
	rows, err := projections.ListApplications(r.Context(), s.pool, projections.ApplicationFilter{
		TaskType: q["task"], Province: q["province"], BatchID: q["batch"], Status: selection.ApplicationStatus(q["status"]),
	})
	if err != nil {
		return err
	}
	p := principal(r.Context())
	out := make([]projections.ApplicationRecord, 0, len(rows))
	for _, a := range rows {
		owner := selection.Application{ID: a.ApplicationID, Province: a.Province, School: a.School, Applicant: a.Applicant}
		if policy.Decide(p, policy.ActionRead, applicationOwner(owner, false)) == nil {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"applications": out})
	return nil
}

// attachmentResource is the first application carrying the file that the
// principal may read: a file is readable by whoever may read an application
// that refers to it, and by nobody else.
func (s *Server) attachmentResource(r *http.Request, p identity.Principal) (policy.Resource, error) {
	hash := r.PathValue("sha256")
	missing := notFound("附件不存在", "no application refers to attachment "+clipText(hash))
	if !attachments.ValidHash(hash) {
		return policy.Resource{}, missing
	}
	ids, err := projections.ApplicationsWithAttachment(r.Context(), s.pool, hash)
	if err != nil {
		return policy.Resource{}, err
	}
	if len(ids) == 0 {
		return policy.Resource{}, missing
	}
	var first policy.Resource
	for i, id := range ids {
		a, err := projections.GetApplication(r.Context(), s.pool, id)
		if err != nil {
			return policy.Resource{}, err
		}
		res := applicationOwner(selection.Application{ID: a.ApplicationID, Province: a.Province, School: a.School, Applicant: a.Applicant}, false)
		if policy.Decide(p, policy.ActionRead, res) == nil {
			return res, nil
		}
		if i == 0 {
			first = res
		}
	}
	return first, nil
}

func (s *Server) getAttachment(w http.ResponseWriter, r *http.Request) error {
	a, data, err := s.files.Get(r.Context(), r.PathValue("sha256"))
	if errors.Is(err, attachments.ErrNotFound) {
		return notFound("附件不存在", err.Error())
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", a.MediaType)
	w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"keytask/attachments"
	"keytask/domain"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
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
		{Pattern: "POST /api/v1/applications", Action: write, Resource: newApplication, handle: s.createApplication},
		{Pattern: "GET /api/v1/applications", Action: read, Resource: ownApplications, handle: s.listApplications},
		{Pattern: "GET " + app, Action: read, Resource: s.applicationResource(false), handle: s.getApplication},
		{Pattern: "PUT " + app, Action: write, Resource: s.applicationResource(true), handle: s.editApplication},
		{Pattern: "POST " + app + "/attachments", Action: write, Resource: s.applicationResource(true), handle: s.attachFile},
		{Pattern: "POST " + app + "/submit", Action: write, Resource: s.applicationResource(true), handle: s.submitApplication},
		{Pattern: "GET /api/v1/attachments/{sha256}", Action: read, Resource: s.attachmentResource, handle: s.getAttachment},

		{Pattern: "POST /api/v1/experts", Action: admin, Resource: national(kindExpert), handle: s.registerExpert},
		{Pattern: "PUT /api/v1/experts/{expert}", Action: admin, Resource: national(kindExpert), handle: s.updateExpert},
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
	id := r.PathValue("id")
	var a selection.Application
	if selection.ValidateApplicationID(id) != nil {
		return a, notFound("申报不存在", "malformed application id")
	}
	recorded, err := s.store.ReadStream(r.Context(), selection.ApplicationStream(id), events.ReadOptions{})
	if err != nil {
		return a, err
	}
	for _, e := range recorded {
		p, ok, err := events.DecodeIf[selection.ApplicationEvent](eventtypes.Registry, e)
		if err != nil {
			return a, err
		}
		if ok {
			if err := a.Apply(p); err != nil {
				return a, err
			}
		}
	}
	// Version counts every event of the stream: it is the expected version of the next append.
	a.Version = int64(len(recorded))
	if !a.Exists() {
		return a, notFound("申报不存在", "no application "+id)
	}
	return a, nil
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
		return badRequest(headerIdempotencyKey, "创建申报须提供幂等键（Idempotency-Key），重试时使用同一个键", "Idempotency-Key is required")
	}
	var req createApplicationRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	batch, err := s.selectionBatch(r, req.BatchID)
	if err != nil {
		return err
	}
	id := events.DeriveID("application", meta.ActorID, key).String()
	stream := selection.ApplicationStream(id)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	cmd := selection.CreateApplication{ApplicationID: id, By: principal(ctx), Batch: batch, Title: req.Title,
		School: req.School, Province: req.Province, Fields: req.Fields}
	decided, err := selection.Create(false, cmd)
	if err != nil {
		return err
	}
	createdID := commandEventID(meta, key, selection.TypeApplicationCreated)
	again, err := replayed(recorded, createdID, decided[0].Payload, key)
	if err != nil {
		return err
	}
	if !again {
		if len(recorded) > 0 {
			return keyReused(fmt.Errorf("application %s exists", id))
		}
		evs := make([]events.NewEvent, len(decided))
		for i, d := range decided {
			data, err := json.Marshal(d.Payload)
			if err != nil {
				return err
			}
			evs[i] = events.NewEvent{ID: commandEventID(meta, key, d.Type), Type: d.Type, SchemaVersion: 1, Data: data, Metadata: meta}
		}
		if _, err := s.store.Append(ctx, stream, events.NoStream, evs...); err != nil {
			if errors.Is(err, events.ErrPartialRetry) {
				return keyReused(err)
			}
			return err
		}
	}
	created := decided[0].Payload.(selection.ApplicationCreated)
	status := http.StatusCreated
	if again {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"application_id": id, "batch_id": created.BatchID, "task_type": created.TaskType,
		"school": created.School, "province": created.Province, "title": created.Title, "status": selection.StatusDraft, "replayed": again})
	return nil
}

// selectionBatch returns the opening of the selection batch an application is
// for. Errors: *domain.FieldError for "batch_id".
func (s *Server) selectionBatch(r *http.Request, batchID string) (selection.SelectionBatchOpened, error) {
	var b selection.SelectionBatchOpened
	missing := domain.Invalid("batch_id", "遴选批次不存在，请选择已开启的遴选批次", fmt.Sprintf("no selection batch %q", clipText(batchID)))
	if !traceIDPattern.MatchString(batchID) {
		return b, missing
	}
	recorded, err := s.store.ReadStream(r.Context(), selection.SelectionBatchStream(batchID), events.ReadOptions{UpToVersion: 1})
	if err != nil {
		return b, err
	}
	if len(recorded) == 0 || recorded[0].Type != selection.TypeSelectionBatchOpened {
		return b, missing
	}
	if err := json.Unmarshal(recorded[0].Data, &b); err != nil {
		return b, fmt.Errorf("decode %s: %w", recorded[0].Type, err)
	}
	return b, nil
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
	a, err := s.loadApplication(r)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	edited, changed, err := selection.Edit(a, req.Title, req.Fields, s.batchNow())
	if err != nil {
		return err
	}
	if changed {
		content, err := json.Marshal(edited)
		if err != nil {
			return err
		}
		id := commandEventID(meta, key, selection.TypeApplicationEdited, a.ID, strconv.FormatInt(a.Version, 10), string(content))
		if err := s.appendCommand(ctx, selection.ApplicationStream(a.ID), a.Version, id, selection.TypeApplicationEdited, edited, meta); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_id": a.ID, "title": edited.Title, "changed": changed})
	return nil
}

// attachFile stores the multipart field "file" by its content hash and
// attaches it to the application. The same content attached again appends
// nothing.
func (s *Server) attachFile(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	a, err := s.loadApplication(r)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	// The correction window a returned application is edited in is the batch's.
	if now := s.batchNow(); !a.Editable(now) {
		_, _, err := selection.AddAttachment(a, selection.ApplicationAttachmentAdded{}, now)
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
	for {
		part, err := mr.NextPart()
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return tooLarge
		case err != nil:
			return domain.Invalid(attachments.Field, "请选择要上传的文件（字段名 file）", "no file part: "+err.Error())
		}
		if part.FormName() != attachments.Field {
			continue
		}
		stored, _, err := s.files.Put(ctx, part)
		switch {
		case errors.As(err, &mbe), errors.As(err, &tl):
			return tooLarge
		case err != nil:
			return err
		}
		att, added, err := selection.AddAttachment(a, selection.ApplicationAttachmentAdded{
			AttachmentID: stored.SHA256[:16], Name: part.FileName(), MediaType: stored.MediaType, Size: stored.Size, SHA256: stored.SHA256,
		}, s.batchNow())
		if err != nil {
			return err
		}
		if added {
			id := commandEventID(meta, key, selection.TypeApplicationAttachmentAdded, a.ID, stored.SHA256)
			if err := s.appendCommand(ctx, selection.ApplicationStream(a.ID), a.Version, id, selection.TypeApplicationAttachmentAdded, att, meta); err != nil {
				return err
			}
		}
		status := http.StatusCreated
		if !added {
			status = http.StatusOK
		}
		writeJSON(w, status, map[string]any{"application_id": a.ID, "attachment_id": att.AttachmentID, "sha256": att.SHA256,
			"name": att.Name, "media_type": att.MediaType, "size": att.Size, "replayed": !added})
		return nil
	}
}

// submitApplication submits a complete application.
func (s *Server) submitApplication(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	a, err := s.loadApplication(r)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	sub, err := selection.Submit(a, s.batchNow())
	if err != nil {
		return err
	}
	id := commandEventID(meta, key, selection.TypeApplicationSubmitted, a.ID, strconv.FormatInt(a.Version, 10))
	if err := s.appendCommand(ctx, selection.ApplicationStream(a.ID), a.Version, id, selection.TypeApplicationSubmitted, sub, meta); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"application_id": a.ID, "status": selection.StatusSubmitted, "submitted_at": sub.At})
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

package api

import (
	"net/http"
	"time"

	"keytask/app"
	"keytask/domain/identity"
	"keytask/domain/policy"
	"keytask/domain/register"
	"keytask/events"
	"keytask/eventtypes"
	"keytask/projections"
)

// kindSchool is the school register: the ministry keeps it; everyone who signs
// in reads it, since official names are what every page shows.
const kindSchool policy.Kind = "school"

func (s *Server) schoolRoutes() []Route {
	const (
		read  = policy.ActionRead
		admin = policy.ActionAdminister
	)
	return []Route{
		{Pattern: "POST /api/v1/schools", Action: admin, Resource: schoolRegister(false), handle: s.registerSchool, Request: register.School{}},
		{Pattern: "GET /api/v1/schools", Action: read, Resource: schoolRegister(true), handle: s.listSchools},
		{Pattern: "GET /api/v1/schools/{code}", Action: read, Resource: schoolRegister(true), handle: s.getSchool},
		{Pattern: "PUT /api/v1/schools/{code}", Action: admin, Resource: schoolRegister(false), handle: s.updateSchool, Request: register.School{}},
	}
}

// schoolRegister describes the register, or the school the path names. It is
// national: every principal reads it (public), only the ministry changes it.
func schoolRegister(public bool) func(*http.Request, identity.Principal) (policy.Resource, error) {
	return func(r *http.Request, _ identity.Principal) (policy.Resource, error) {
		return policy.Resource{Kind: kindSchool, ID: r.PathValue("code"), Public: public}, nil
	}
}

// registerSchool adds a school to the register. A repeated request (same
// Idempotency-Key, or the same record without one) answers 200 and appends
// nothing.
func (s *Server) registerSchool(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req register.School
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	school, again, err := s.app.RegisterSchool(r.Context(), app.RegisterSchool{Request: appRequest(r, key), School: req})
	switch {
	case err != nil:
		return err
	case again:
		writeJSON(w, http.StatusOK, map[string]any{"school": schoolJSON(school), "replayed": true})
	default:
		writeJSON(w, http.StatusCreated, map[string]any{"school": schoolJSON(school)})
	}
	return nil
}

// updateSchool replaces a registered school's record; the code stays.
func (s *Server) updateSchool(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req register.School
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.Code = r.PathValue("code")
	school, changed, err := s.app.UpdateSchool(r.Context(), app.UpdateSchool{Request: appRequest(r, key), School: req})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"school": schoolJSON(school), "changed": changed})
	return nil
}

// listSchools answers the register, or with province= one province's schools.
func (s *Server) listSchools(w http.ResponseWriter, r *http.Request) error {
	province, err := queryText(r, "province")
	if err != nil {
		return err
	}
	if province != "" && identity.Provinces[province] == "" {
		return badRequest("province", "省份应为两位省级行政区划代码，如 11（北京市）", "province filter is not a province code")
	}
	schools, err := projections.ListSchools(r.Context(), s.pool, province)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"schools": schools})
	return nil
}

// schoolRevision is one record of a school's history.
type schoolRevision struct {
	Version    int64           `json:"version"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recorded_at"`
	Actor      string          `json:"actor"`
	School     register.School `json:"school"`
}

// getSchool answers one school with its history, read from the log so that a
// school registered a moment ago is there at once.
func (s *Server) getSchool(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	recorded, err := s.store.ReadStream(r.Context(), register.SchoolStream(code), events.ReadOptions{})
	if err != nil {
		return err
	}
	var school register.School
	history := make([]schoolRevision, 0, len(recorded))
	for _, e := range recorded {
		p, err := eventtypes.Registry.Decode(e)
		if err != nil {
			return err
		}
		switch p := p.(type) {
		case register.SchoolRegistered:
			school = register.School(p)
		case register.SchoolUpdated:
			school = register.School(p)
		default:
			continue
		}
		history = append(history, schoolRevision{Version: e.StreamVersion, Type: e.Type, RecordedAt: e.RecordedAt.UTC(), Actor: e.Metadata.ActorID, School: school})
	}
	if len(history) == 0 {
		return &app.NotFoundError{Message: "学校不在名录中", Detail: "no school " + clipText(code)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"school": schoolJSON(school), "history": history})
	return nil
}

// schoolJSON is a school as the API answers it, with its province's name.
func schoolJSON(s register.School) map[string]any {
	return map[string]any{"code": s.Code, "name": s.Name, "province": s.Province, "province_name": s.ProvinceName(), "kind": s.Kind}
}

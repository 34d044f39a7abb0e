package api

import (
	"net/http"
	"time"

	"keytask/app"
	"keytask/domain/intent"
	"keytask/projections"
)

type liaisonDeadlineRequest struct {
	Deadline string `json:"deadline"` // RFC 3339, or Beijing time "2022-04-27 18:00"
}

// setLiaisonDeadline sets (or moves) the date by which provinces register
// their liaisons. Setting the deadline it already has appends nothing.
func (s *Server) setLiaisonDeadline(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req liaisonDeadlineRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	deadline, err := parseDeadline("deadline", req.Deadline)
	if err != nil {
		return err
	}
	set, again, err := s.app.SetLiaisonDeadline(r.Context(), app.SetLiaisonDeadline{Request: appRequest(r, key), Deadline: deadline})
	if err != nil {
		return err
	}
	res := map[string]any{"deadline": set.Deadline}
	if again {
		res["replayed"] = true
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

type liaisonRequest struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	Email string `json:"email"`
}

type liaisonView struct {
	Province      string     `json:"province"`
	ProvinceName  string     `json:"province_name"`
	Name          string     `json:"name"`
	Phone         string     `json:"phone"`
	Email         string     `json:"email"`
	RegisteredAt  *time.Time `json:"registered_at,omitempty"`
	Registrations int        `json:"registrations,omitempty"`
	Late          bool       `json:"late"`
	Replayed      bool       `json:"replayed,omitempty"`
}

// registerLiaison registers the province's liaison, replacing any earlier one.
// Registering the liaison the province already has appends nothing.
func (s *Server) registerLiaison(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req liaisonRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	l, again, err := s.app.RegisterLiaison(r.Context(), app.RegisterLiaison{Request: appRequest(r, key), Liaison: intent.LiaisonRegistered{
		Province: r.PathValue("province"), Name: req.Name, Phone: req.Phone, Email: req.Email,
	}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, liaisonView{Province: l.Province, ProvinceName: provinceName(l.Province),
		Name: l.Name, Phone: l.Phone, Email: l.Email, Replayed: again})
	return nil
}

type province struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// listLiaisons answers every province's liaison against the deadline, and
// who is missing.
func (s *Server) listLiaisons(w http.ResponseWriter, r *http.Request) error {
	o, err := projections.Liaisons(r.Context(), s.pool)
	if err != nil {
		return err
	}
	ls := make([]liaisonView, len(o.Liaisons))
	for i, l := range o.Liaisons {
		at := l.RegisteredAt
		ls[i] = liaisonView{Province: l.Province, ProvinceName: l.ProvinceName, Name: l.Name, Phone: l.Phone, Email: l.Email,
			RegisteredAt: &at, Registrations: l.Registrations, Late: l.Late}
	}
	missing := make([]province, len(o.Missing))
	for i, m := range o.Missing {
		missing[i] = province{Code: m.Code, Name: m.Name}
	}
	writeJSON(w, http.StatusOK, map[string]any{"deadline": o.Deadline, "liaisons": ls, "missing": missing})
	return nil
}

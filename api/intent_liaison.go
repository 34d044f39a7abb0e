package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"keytask/domain/intent"
	"keytask/events"
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
	decided, err := intent.SetLiaisonDeadline(intent.LiaisonDeadlineSet{Deadline: deadline}, time.Now())
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	stream := intent.LiaisonDeadlineStream
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	version := int64(len(recorded))
	id := commandEventID(meta, key, intent.TypeLiaisonDeadlineSet, fmt.Sprint(version), decided.Deadline.Format(time.RFC3339Nano))
	res := map[string]any{"deadline": decided.Deadline}
	again, err := replayed(recorded, id, decided, key)
	if err != nil {
		return err
	}
	if !again && len(recorded) > 0 {
		again, err = sameJSON(recorded[len(recorded)-1].Data, decided)
		if err != nil {
			return err
		}
	}
	if again {
		res["replayed"] = true
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	if err := s.appendCommand(ctx, stream, version, id, intent.TypeLiaisonDeadlineSet, decided, meta); err != nil {
		return err
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
	decided, err := intent.RegisterLiaison(intent.LiaisonRegistered{
		Province: r.PathValue("province"), Name: req.Name, Phone: req.Phone, Email: req.Email,
	})
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	stream := intent.LiaisonStream(decided.Province)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	version := int64(len(recorded))
	content, err := json.Marshal(decided)
	if err != nil {
		return err
	}
	id := commandEventID(meta, key, intent.TypeLiaisonRegistered, decided.Province, fmt.Sprint(version), string(content))
	view := liaisonView{Province: decided.Province, ProvinceName: provinceName(decided.Province),
		Name: decided.Name, Phone: decided.Phone, Email: decided.Email}
	again, err := replayed(recorded, id, decided, key)
	if err != nil {
		return err
	}
	if !again && len(recorded) > 0 {
		if again, err = sameJSON(recorded[len(recorded)-1].Data, decided); err != nil {
			return err
		}
	}
	if again {
		view.Replayed = true
		writeJSON(w, http.StatusOK, view)
		return nil
	}
	if err := s.appendCommand(ctx, stream, version, id, intent.TypeLiaisonRegistered, decided, meta); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
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

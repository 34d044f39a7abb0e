package api

import (
	"net/http"

	"keytask/app"
	"keytask/domain/selection"
	"keytask/projections"
)

// registerExpert adds an expert to the pool. A repeated request (same
// Idempotency-Key, or the same record without one) answers 200 and appends
// nothing.
func (s *Server) registerExpert(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req selection.ExpertRegistered
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	expert, again, err := s.app.RegisterExpert(r.Context(), app.RegisterExpert{Request: appRequest(r, key), Expert: req})
	switch {
	case err != nil:
		return err
	case again:
		writeJSON(w, http.StatusOK, map[string]any{"expert": expert, "replayed": true})
	default:
		writeJSON(w, http.StatusCreated, map[string]any{"expert": expert})
	}
	return nil
}

// updateExpert replaces a registered expert's record.
func (s *Server) updateExpert(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req selection.ExpertRegistered
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.ExpertID = r.PathValue("expert")
	updated, changed, err := s.app.UpdateExpert(r.Context(), app.UpdateExpert{Request: appRequest(r, key), Expert: req})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"expert": updated, "changed": changed})
	return nil
}

// listExperts answers the pool, or with task= only the experts qualified in
// that task type.
func (s *Server) listExperts(w http.ResponseWriter, r *http.Request) error {
	task, err := queryText(r, "task")
	if err != nil {
		return err
	}
	es, err := projections.ListExperts(r.Context(), s.pool, task)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"experts": es})
	return nil
}

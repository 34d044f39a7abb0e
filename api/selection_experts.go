package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"keytask/domain/selection"
	"keytask/events"
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
	decided, err := selection.NormalizeExpert(req)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	stream := selection.ExpertStream(decided.ExpertID)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	id := commandEventID(meta, key, selection.TypeExpertRegistered, decided.ExpertID)
	again, err := replayed(recorded, id, decided, key)
	if err != nil || again {
		if err == nil {
			writeJSON(w, http.StatusOK, map[string]any{"expert": decided, "replayed": true})
		}
		return err
	}
	if decided, err = selection.RegisterExpert(len(recorded) > 0, decided); err != nil {
		return err
	}
	if err := s.appendCommand(ctx, stream, events.NoStream, id, selection.TypeExpertRegistered, decided, meta); err != nil {
		var conflict *events.ErrConflict
		if errors.As(err, &conflict) {
			_, err = selection.RegisterExpert(true, decided)
		}
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"expert": decided})
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
	ctx, meta := r.Context(), metadata(r.Context())
	stream := selection.ExpertStream(req.ExpertID)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	if len(recorded) == 0 {
		return notFound("专家不存在", "no expert "+clipText(req.ExpertID))
	}
	// Every expert event carries the whole record, so the last one is current.
	var current selection.ExpertRegistered
	if err := json.Unmarshal(recorded[len(recorded)-1].Data, &current); err != nil {
		return err
	}
	updated, changed, err := selection.UpdateExpert(current, req)
	if err != nil {
		return err
	}
	if changed {
		content, err := json.Marshal(updated)
		if err != nil {
			return err
		}
		version := int64(len(recorded))
		id := commandEventID(meta, key, selection.TypeExpertUpdated, req.ExpertID, strconv.FormatInt(version, 10), string(content))
		if err := s.appendCommand(ctx, stream, version, id, selection.TypeExpertUpdated, updated, meta); err != nil {
			return err
		}
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

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/google/uuid"

	"keytask/domain"
	"keytask/domain/intent"
	"keytask/events"
	"keytask/exports"
	"keytask/projections"
)

// planBatchRequest opens a batch. Items come as JSON or as CSV text in the
// reference layout (item,code,name,target,unit,kind), not both.
type planBatchRequest struct {
	BatchID  string            `json:"batch_id"`
	Name     string            `json:"name"`
	Items    []intent.TaskItem `json:"items"`
	ItemsCSV string            `json:"items_csv"`
}

// planItemsRequest adds items to a batch.
type planItemsRequest struct {
	Items    []intent.TaskItem `json:"items"`
	ItemsCSV string            `json:"items_csv"`
}

type taskItemView struct {
	Item      string      `json:"item"`
	Code      string      `json:"code"`
	Name      string      `json:"name"`
	Target    int64       `json:"target"`
	Unit      string      `json:"unit"`
	Kind      intent.Kind `json:"kind"`
	KindLabel string      `json:"kind_label"`
}

func taskItemViews(items []intent.TaskItem) []taskItemView {
	out := make([]taskItemView, len(items))
	for i, it := range items {
		out[i] = taskItemView{Item: it.Item, Code: it.Code, Name: it.Name, Target: it.Target, Unit: it.Unit, Kind: it.Kind,
			KindLabel: exports.KindLabel(it.Kind)}
	}
	return out
}

type planBatchView struct {
	BatchID  string         `json:"batch_id"`
	Name     string         `json:"name"`
	Items    []taskItemView `json:"items"`
	Replayed bool           `json:"replayed,omitempty"`
}

// requestItems returns the items of a request, parsing CSV text if that is
// what it carries.
func requestItems(items []intent.TaskItem, csvText string) ([]intent.TaskItem, error) {
	hasCSV := strings.TrimSpace(csvText) != ""
	switch {
	case hasCSV && len(items) > 0:
		return nil, domain.Invalid("items_csv", "任务（项目）请用 items 或 items_csv 其中一种方式提供，不能同时提供",
			"both items and items_csv")
	case hasCSV:
		return intent.ParseTaskItemsCSV(strings.NewReader(csvText))
	}
	return items, nil
}

// openPlanBatch opens a plan batch with its catalogue. A repeated request (same
// batch and content, or the same Idempotency-Key) answers 200 and appends
// nothing.
func (s *Server) openPlanBatch(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req planBatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	items, err := requestItems(req.Items, req.ItemsCSV)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	decided, err := intent.OpenPlanBatch(false, intent.PlanBatchOpened{BatchID: req.BatchID, Name: req.Name, Items: items})
	if err != nil {
		return err
	}
	stream := intent.PlanStream(decided.BatchID)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	id := commandEventID(meta, key, intent.TypePlanBatchOpened, decided.BatchID)
	view := planBatchView{BatchID: decided.BatchID, Name: decided.Name, Items: taskItemViews(decided.Items)}
	if view.Replayed, err = replayed(recorded, id, decided, key); view.Replayed || err != nil {
		if err == nil {
			writeJSON(w, http.StatusOK, view)
		}
		return err
	}
	if _, err := intent.OpenPlanBatch(len(recorded) > 0, decided); err != nil {
		return err
	}
	if err := s.appendCommand(ctx, stream, events.NoStream, id, intent.TypePlanBatchOpened, decided, meta); err != nil {
		var conflict *events.ErrConflict
		if errors.As(err, &conflict) {
			return domain.Conflict("batch_id", "该批次编号已存在", err.Error())
		}
		return err
	}
	writeJSON(w, http.StatusCreated, view)
	return nil
}

// addPlanItems adds items to an open batch, numbered and coded uniquely
// across the batch.
func (s *Server) addPlanItems(w http.ResponseWriter, r *http.Request) error {
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req planItemsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	items, err := requestItems(req.Items, req.ItemsCSV)
	if err != nil {
		return err
	}
	ctx, meta := r.Context(), metadata(r.Context())
	batchID := r.PathValue("batch")
	if err := intent.ValidateBatchID(batchID); err != nil {
		return notFound("任务批次不存在", err.Error())
	}
	// The items on their own first, so that the id of a retry can be derived
	// from their normalised content before the batch is consulted.
	decided, err := intent.AddPlanItems(nil, intent.PlanItemsAdded{BatchID: batchID, Items: items})
	if err != nil {
		return err
	}
	stream := intent.PlanStream(batchID)
	recorded, err := s.store.ReadStream(ctx, stream, events.ReadOptions{})
	if err != nil {
		return err
	}
	if len(recorded) == 0 {
		return notFound("任务批次不存在", "no plan batch "+batchID)
	}
	content, err := json.Marshal(decided.Items)
	if err != nil {
		return err
	}
	id := commandEventID(meta, key, intent.TypePlanItemsAdded, batchID, string(content))
	current, name, err := foldPlan(recorded)
	if err != nil {
		return err
	}
	view := planBatchView{BatchID: batchID, Name: name}
	if view.Replayed, err = replayed(recorded, id, decided, key); view.Replayed || err != nil {
		if err == nil {
			view.Items = taskItemViews(current)
			writeJSON(w, http.StatusOK, view)
		}
		return err
	}
	if decided, err = intent.AddPlanItems(current, decided); err != nil {
		return err
	}
	if err := s.appendCommand(ctx, stream, int64(len(recorded)), id, intent.TypePlanItemsAdded, decided, meta); err != nil {
		return err
	}
	view.Items = taskItemViews(append(current, decided.Items...))
	writeJSON(w, http.StatusCreated, view)
	return nil
}

// foldPlan returns a batch's catalogue and name from its stream.
func foldPlan(recorded []events.Event) (items []intent.TaskItem, name string, err error) {
	for _, e := range recorded {
		switch e.Type {
		case intent.TypePlanBatchOpened:
			var p intent.PlanBatchOpened
			if err := json.Unmarshal(e.Data, &p); err != nil {
				return nil, "", fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
			}
			items, name = append(items, p.Items...), p.Name
		case intent.TypePlanItemsAdded:
			var p intent.PlanItemsAdded
			if err := json.Unmarshal(e.Data, &p); err != nil {
				return nil, "", fmt.Errorf("decode %s %s: %w", e.Type, e.ID, err)
			}
			items = append(items, p.Items...)
		}
	}
	return items, name, nil
}

func (s *Server) getPlanBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := projections.GetPlanBatch(r.Context(), s.pool, r.PathValue("batch"))
	if errors.Is(err, projections.ErrPlanBatchNotFound) {
		return notFound("任务批次不存在", err.Error())
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"batch_id": b.BatchID, "name": b.Name, "opened_at": b.OpenedAt, "opened_by": b.OpenedBy, "items": taskItemViews(b.Items),
	})
	return nil
}

// replayed reports whether the stream already holds the event with id, which a
// retry of this very command would have appended. The same id with other
// content means an idempotency key reused for another request (*domain.FieldError);
// without a key, ids derive from the content, so that cannot happen.
func replayed(recorded []events.Event, id uuid.UUID, want any, key string) (bool, error) {
	for _, e := range recorded {
		if e.ID != id {
			continue
		}
		same, err := sameJSON(e.Data, want)
		if err != nil || same {
			return same, err
		}
		if key != "" {
			return false, keyReused(fmt.Errorf("key %q: event %s holds other content", key, e.ID))
		}
		return false, nil
	}
	return false, nil
}

// sameJSON reports whether recorded, decoded into want's type and encoded
// again, encodes as want does: a comparison that ignores the formatting of the
// stored JSON and the representation of times.
func sameJSON(recorded []byte, want any) (bool, error) {
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return false, err
	}
	was := reflect.New(reflect.TypeOf(want)).Interface()
	if err := json.Unmarshal(recorded, was); err != nil {
		return false, err
	}
	wasJSON, err := json.Marshal(was)
	if err != nil {
		return false, err
	}
	return bytes.Equal(wasJSON, wantJSON), nil
}

// appendCommand records one event that a request decided. An id already
// recorded elsewhere means the idempotency key was used for another request.
func (s *Server) appendCommand(ctx context.Context, stream string, expected int64, id uuid.UUID, typ string, payload any, meta events.Metadata) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = s.store.Append(ctx, stream, expected, events.NewEvent{ID: id, Type: typ, SchemaVersion: 1, Data: data, Metadata: meta})
	if errors.Is(err, events.ErrPartialRetry) {
		return keyReused(err)
	}
	return err
}

package api

import (
	"errors"
	"net/http"
	"strings"

	"keytask/app"
	"keytask/domain"
	"keytask/domain/intent"
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
	// ConstructionEnd is the batch's last day of construction (YYYY-MM-DD);
	// empty means the first batch's 2025-06-30.
	ConstructionEnd string `json:"construction_end"`
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
	BatchID string         `json:"batch_id"`
	Name    string         `json:"name"`
	Items   []taskItemView `json:"items"`
	// ConstructionEnd is set when the batch was opened (not when items are added).
	ConstructionEnd string `json:"construction_end,omitempty"`
	Replayed        bool   `json:"replayed,omitempty"`
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
	opened, again, err := s.app.OpenPlanBatch(r.Context(), app.OpenPlanBatch{Request: appRequest(r, key),
		Batch: intent.PlanBatchOpened{BatchID: req.BatchID, Name: req.Name, Items: items, ConstructionEnd: req.ConstructionEnd}})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if again {
		status = http.StatusOK
	}
	writeJSON(w, status, planBatchView{BatchID: opened.BatchID, Name: opened.Name, Items: taskItemViews(opened.Items),
		ConstructionEnd: opened.ConstructionEnd, Replayed: again})
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
	b, err := s.app.AddPlanItems(r.Context(), app.AddPlanItems{Request: appRequest(r, key), BatchID: r.PathValue("batch"), Items: items})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if b.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, planBatchView{BatchID: b.BatchID, Name: b.Name, Items: taskItemViews(b.Items), Replayed: b.Replayed})
	return nil
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

package app

import (
	"context"
	"slices"

	"keytask/domain/intent"
	"keytask/domain/selection"
	"keytask/events"
	"keytask/eventtypes"
)

// PlanFacts reads from the log what opening a selection batch of taskItem in
// plan batch planBatchID hands over from the plan: the batch's catalogue and,
// from its latest filed intent round, each province's undertaking for the item
// as its submitted form states it. It reads the plan batch's stream, the
// streams of the rounds opened for it and their forms, never a read model
// (DESIGN.md rule 11). selection.Plan judges the facts.
func (a *App) PlanFacts(ctx context.Context, planBatchID, taskItem string) (selection.PlanFacts, error) {
	var out selection.PlanFacts
	if intent.ValidateBatchID(planBatchID) != nil {
		return out, nil
	}
	recorded, err := a.store.ReadStream(ctx, intent.PlanStream(planBatchID), events.ReadOptions{})
	if err != nil {
		return out, err
	}
	if len(recorded) == 0 {
		return out, nil
	}
	out.Exists = true
	if out.Items, _, err = foldPlan(recorded); err != nil {
		return out, err
	}
	rounds, err := a.store.StreamsWith(ctx, intent.TypeIntentRoundOpened, "batch_id", planBatchID)
	if err != nil {
		return out, err
	}
	// The latest filed round counts: a later round for the same plan batch
	// restates the provinces' undertakings.
	var opened intent.IntentRoundOpened
	var filedAt int64 = -1
	for _, stream := range rounds {
		evs, err := a.store.ReadStream(ctx, stream, events.ReadOptions{})
		if err != nil {
			return out, err
		}
		var o intent.IntentRoundOpened
		for _, e := range evs {
			switch e.Type {
			case intent.TypeIntentRoundOpened:
				if o, err = events.DecodeAs[intent.IntentRoundOpened](eventtypes.Registry, e); err != nil {
					return out, err
				}
			case intent.TypeIntentRoundFiled:
				if o.BatchID == planBatchID && e.Order.Seq > filedAt {
					opened, filedAt = o, e.Order.Seq
				}
			}
		}
	}
	if filedAt < 0 {
		return out, nil
	}
	out.Round, out.Undertaken = opened.RoundID, map[string]int64{}
	for _, p := range opened.Provinces {
		form, ok, err := a.submittedForm(ctx, opened.RoundID, p)
		if err != nil {
			return out, err
		}
		if !ok {
			continue
		}
		i := slices.IndexFunc(form.Lines, func(l intent.Line) bool { return l.Item == taskItem })
		if i >= 0 && form.Lines[i].Undertake && form.Lines[i].Quantity > 0 {
			out.Undertaken[p] = form.Lines[i].Quantity
			// The 实施单位 the province settled for the item bound whom it
			// may recommend without a reason (selection.OutsideUnits).
			for _, u := range form.Lines[i].Units {
				if out.Units == nil {
					out.Units = map[string][]string{}
				}
				out.Units[p] = append(out.Units[p], u.Code)
			}
		}
	}
	return out, nil
}

// submittedForm is province's form in round as it stands submitted: the last
// submission not returned after it.
func (a *App) submittedForm(ctx context.Context, round, province string) (intent.Form, bool, error) {
	evs, err := a.store.ReadStream(ctx, intent.FormStream(round, province), events.ReadOptions{})
	if err != nil {
		return intent.Form{}, false, err
	}
	var form intent.Form
	submitted := false
	for _, e := range evs {
		switch e.Type {
		case intent.TypeIntentSubmitted:
			s, err := events.DecodeAs[intent.IntentSubmitted](eventtypes.Registry, e)
			if err != nil {
				return form, false, err
			}
			form, submitted = s.Form, true
		case intent.TypeIntentReturned:
			submitted = false
		}
	}
	return form, submitted, nil
}

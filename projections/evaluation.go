package projections

import (
	"context"

	"keytask/domain/identity"
	"keytask/events"
)

// Evaluation is what an applicant is told of its review once the result is
// published (评审情况摘要): each panel member's marks per criterion without
// their names, the panel's result per criterion, the consensus and its
// rationale where the panel recorded one, and the outcome.
type Evaluation struct {
	BatchID     string   `json:"batch_id"`
	Application string   `json:"application"`
	Criteria    []string `json:"criteria"` // the rubric's criteria, by name, in order
	// Panel lists each expert's marks, in the rubric's order, and weighted
	// total, numbered 1..n; who gave them is not shown.
	Panel []PanelMarks `json:"panel"`
	// Result is the mark per criterion the ranking used: the panel's mean,
	// or the consensus's mark where there was one; Score the total.
	Result    []string `json:"result"`
	Score     string   `json:"score"`
	Consensus string   `json:"consensus_rationale,omitempty"`
	Rank      int      `json:"rank"`
	Selected  bool     `json:"selected"` // within the quota of the confirmed ranking
	BelowPass string   `json:"below_pass,omitempty"`
	Published bool     `json:"published"` // on the published list
	Overruled []string `json:"overruled,omitempty"`
	MovedUp   bool     `json:"moved_up,omitempty"`
}

// PanelMarks is one anonymous panel member's scoring.
type PanelMarks struct {
	Member   int    `json:"member"`
	Criteria []int  `json:"criteria"`
	Total    string `json:"total"`
}

// Evaluate folds batchID's stream into application's evaluation summary. Its
// errors are Explain's.
func Evaluate(ctx context.Context, store *events.Store, batchID, application string, viewer identity.Principal) (Evaluation, error) {
	x, err := Explain(ctx, store, batchID, application, viewer)
	if err != nil {
		return Evaluation{}, err
	}
	ev := Evaluation{BatchID: batchID, Application: application, Criteria: x.Criteria, Panel: []PanelMarks{},
		Score: x.Ranking.Mean.String(), Rank: x.Ranking.Rank, Selected: x.Ranking.Selected, BelowPass: x.Ranking.PassZh,
		Published: x.Published, MovedUp: x.MovedUp != nil}
	for _, ex := range x.Experts {
		if ex.Scored {
			ev.Panel = append(ev.Panel, PanelMarks{Member: len(ev.Panel) + 1, Criteria: ex.Criteria, Total: ex.Total})
		}
	}
	for _, c := range x.Ranking.Criteria {
		ev.Result = append(ev.Result, c.String())
	}
	if c := x.Ranking.Consensus; c != nil {
		ev.Consensus = c.Rationale
	}
	for _, o := range x.Overrules {
		ev.Overruled = append(ev.Overruled, o.Reason)
	}
	return ev, nil
}

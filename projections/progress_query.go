package projections

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"keytask/domain/calendar"
	"keytask/domain/identity"
	"keytask/domain/intent"
)

// ProgressCounts are the programme's counts for one task item (nationally, or
// in one province).
type ProgressCounts struct {
	Intended          int64 `json:"intended"`           // 承接数量 of the provinces' standing intent forms
	Provinces         int64 `json:"provinces"`          // provinces undertaking it
	Applications      int64 `json:"applications"`       // submitted applications, over all batches
	Recommended       int64 `json:"recommended"`        // on the provinces' current recommendations
	Published         int64 `json:"published"`          // published projects, cumulative over batches
	UnderConstruction int64 `json:"under_construction"` // active or flagged
	Flagged           int64 `json:"flagged"`
	Revoked           int64 `json:"revoked"`
	Accepted          int64 `json:"accepted"`
}

// Counted is what counts toward a target: published and not revoked.
func (c ProgressCounts) Counted() int64 { return c.Published - c.Revoked }

func (c *ProgressCounts) add(o ProgressCounts) {
	c.Intended += o.Intended
	c.Provinces += o.Provinces
	c.Applications += o.Applications
	c.Recommended += o.Recommended
	c.Published += o.Published
	c.UnderConstruction += o.UnderConstruction
	c.Flagged += o.Flagged
	c.Revoked += o.Revoked
	c.Accepted += o.Accepted
}

// ProgressItem is one task item of a plan batch against its national target.
// Remaining is what is still to be published (not revoked) to reach the
// target; a province's view counts its own projects only, so its Remaining is
// measured against what it intended.
type ProgressItem struct {
	PlanBatchID string `json:"plan_batch_id"`
	Item        string `json:"item"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Unit        string `json:"unit"`
	Kind        string `json:"kind"`
	Target      int64  `json:"target"`
	ProgressCounts
	Remaining int64 `json:"remaining"`
}

// ProgressCell is one task item in one province.
type ProgressCell struct {
	PlanBatchID string `json:"plan_batch_id"`
	Item        string `json:"item"`
	Province    string `json:"province"`
	ProgressCounts
	Remaining int64 `json:"remaining"` // to the province's intended quantity
}

// ProgressProvince is one province over every selection task item: its tile
// on the dashboard. Remaining sums each item's shortfall against what the
// province intended for it; Percent is the share of the intended quantity
// reached (published and not revoked, item by item, at most the intended),
// -1 when it intends nothing.
type ProgressProvince struct {
	Province string `json:"province"`
	Name     string `json:"name"`
	ProgressCounts
	Remaining int64 `json:"remaining"`
	Percent   int   `json:"percent"`
}

// ProgressMoney is money per province, task item and source: pledged in the
// intent form, planned and spent in the standing yearly reports (all years).
type ProgressMoney struct {
	PlanBatchID string        `json:"plan_batch_id"`
	Item        string        `json:"item"`
	Province    string        `json:"province"`
	Source      intent.Source `json:"source"`
	Pledged     intent.Yuan   `json:"pledged"`
	Planned     intent.Yuan   `json:"planned"`
	Spent       intent.Yuan   `json:"spent"`
}

// ProgressSourceTotal is the money of one source over the whole scope.
type ProgressSourceTotal struct {
	Source  intent.Source `json:"source"`
	Label   string        `json:"label"`
	Pledged intent.Yuan   `json:"pledged"`
	Planned intent.Yuan   `json:"planned"`
	Spent   intent.Yuan   `json:"spent"`
}

// ProgressFilter narrows a progress report: Province is how a province's
// scope is applied (the API sets it from the principal); PlanBatch picks one
// plan batch. Empty fields do not filter.
type ProgressFilter struct {
	PlanBatch string
	Province  string
}

// ProgressReport is the programme against its targets.
type ProgressReport struct {
	Items     []ProgressItem        `json:"items"`
	Provinces []ProgressProvince    `json:"provinces"`
	Cells     []ProgressCell        `json:"cells"`
	Money     []ProgressMoney       `json:"money"`
	Sources   []ProgressSourceTotal `json:"sources"`
}

type progressKey struct{ plan, item, province string }

// ReadProgress reads the progress read model.
func ReadProgress(ctx context.Context, q Querier, f ProgressFilter) (ProgressReport, error) {
	var out ProgressReport
	rows, err := q.Query(ctx, `SELECT i.plan_batch_id, i.item, i.code, i.name, i.unit, i.kind, i.target
		FROM progress_items i JOIN progress_plan_batches b USING (plan_batch_id)
		WHERE ($1 = '' OR i.plan_batch_id = $1) ORDER BY b.opened_at, i.plan_batch_id COLLATE "C", i.seq`, f.PlanBatch)
	if err != nil {
		return out, fmt.Errorf("progress items: %w", err)
	}
	out.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressItem, error) {
		var it ProgressItem
		err := row.Scan(&it.PlanBatchID, &it.Item, &it.Code, &it.Name, &it.Unit, &it.Kind, &it.Target)
		return it, err
	})
	if err != nil {
		return out, fmt.Errorf("progress items: %w", err)
	}
	// One row per (plan batch, item, province, measure): every count comes
	// from the model's own tables, so a replay of this model alone answers.
	rows, err = q.Query(ctx, `
SELECT plan_batch_id, item, province, 'intended', sum(quantity), count(*) FROM progress_intents WHERE undertake GROUP BY 1, 2, 3
UNION ALL
SELECT b.plan_batch_id, a.task_item, a.province, 'applications', count(*), 0 FROM progress_applications a
	JOIN progress_batches b USING (batch_id) WHERE a.submitted GROUP BY 1, 2, 3
UNION ALL
SELECT b.plan_batch_id, b.task_item, r.province, 'recommended', count(*), 0 FROM progress_recommended r
	JOIN progress_batches b USING (batch_id) GROUP BY 1, 2, 3
UNION ALL
SELECT b.plan_batch_id, p.task_item, p.province, p.status, count(*), 0 FROM progress_projects p
	JOIN progress_batches b USING (batch_id) GROUP BY 1, 2, 3, 4`)
	if err != nil {
		return out, fmt.Errorf("progress counts: %w", err)
	}
	counts := map[progressKey]*ProgressCounts{}
	var k progressKey
	var measure string
	var n, m int64
	if _, err := pgx.ForEachRow(rows, []any{&k.plan, &k.item, &k.province, &measure, &n, &m}, func() error {
		if (f.Province != "" && k.province != f.Province) || (f.PlanBatch != "" && k.plan != f.PlanBatch) {
			return nil
		}
		c := counts[k]
		if c == nil {
			c = &ProgressCounts{}
			counts[k] = c
		}
		switch measure {
		case "intended":
			c.Intended, c.Provinces = n, m
		case "applications":
			c.Applications = n
		case "recommended":
			c.Recommended = n
		case "active":
			c.Published += n
			c.UnderConstruction += n
		case "flagged":
			c.Published += n
			c.UnderConstruction += n
			c.Flagged = n
		case "revoked":
			c.Published += n
			c.Revoked = n
		case "accepted":
			c.Published += n
			c.Accepted = n
		}
		return nil
	}); err != nil {
		return out, fmt.Errorf("progress counts: %w", err)
	}
	known := map[[2]string]int{}
	for i, it := range out.Items {
		known[[2]string{it.PlanBatchID, it.Item}] = i
	}
	provinces := map[string]*ProgressProvince{}
	for _, code := range slices.Sorted(maps.Keys(identity.Provinces)) {
		if f.Province == "" || f.Province == code {
			provinces[code] = &ProgressProvince{Province: code, Name: identity.Provinces[code]}
		}
	}
	for k, c := range counts {
		i, ok := known[[2]string{k.plan, k.item}]
		if !ok {
			continue // a batch of an item its plan batch does not list: nothing to measure it against
		}
		out.Items[i].add(*c)
		cell := ProgressCell{PlanBatchID: k.plan, Item: k.item, Province: k.province, ProgressCounts: *c,
			Remaining: max(c.Intended-c.Counted(), 0)}
		out.Cells = append(out.Cells, cell)
		if p := provinces[k.province]; p != nil && out.Items[i].Kind == string(intent.KindSelection) {
			p.add(*c)
			p.Remaining += cell.Remaining
		}
	}
	for i := range out.Items {
		it := &out.Items[i]
		target := it.Target
		if f.Province != "" {
			target = it.Intended
		}
		it.Remaining = max(target-it.Counted(), 0)
	}
	slices.SortFunc(out.Cells, func(a, b ProgressCell) int {
		return cmp.Or(cmp.Compare(known[[2]string{a.PlanBatchID, a.Item}], known[[2]string{b.PlanBatchID, b.Item}]),
			cmp.Compare(a.Province, b.Province))
	})
	for _, code := range slices.Sorted(maps.Keys(provinces)) {
		p := provinces[code]
		p.Percent = -1
		if p.Intended > 0 {
			p.Percent = int((p.Intended - p.Remaining) * 100 / p.Intended)
		}
		out.Provinces = append(out.Provinces, *p)
	}
	if out.Money, err = progressMoney(ctx, q, f, known); err != nil {
		return out, err
	}
	out.Sources = make([]ProgressSourceTotal, len(intent.Sources))
	totals := map[intent.Source]*ProgressSourceTotal{}
	for i, s := range intent.Sources {
		out.Sources[i] = ProgressSourceTotal{Source: s, Label: s.Label()}
		totals[s] = &out.Sources[i]
	}
	for _, m := range out.Money {
		if t := totals[m.Source]; t != nil {
			t.Pledged += m.Pledged
			t.Planned += m.Planned
			t.Spent += m.Spent
		}
	}
	if out.Cells == nil {
		out.Cells = []ProgressCell{}
	}
	if out.Items == nil {
		out.Items = []ProgressItem{}
	}
	return out, nil
}

// progressMoney reads pledged, planned and spent per plan batch, item,
// province and source; only reports whose submission stands count.
func progressMoney(ctx context.Context, q Querier, f ProgressFilter, known map[[2]string]int) ([]ProgressMoney, error) {
	rows, err := q.Query(ctx, `
SELECT plan_batch_id, item, province, s.key, 'pledged', sum(s.value::bigint)
	FROM progress_intents, jsonb_each_text(funds) s WHERE ($1 = '' OR province = $1) GROUP BY 1, 2, 3, 4
UNION ALL
SELECT b.plan_batch_id, r.task_item, r.province, s.key, 'planned', sum(s.value::bigint)
	FROM progress_reports r JOIN progress_batches b USING (batch_id), jsonb_each_text(r.planned) s
	WHERE r.status IN ('submitted', 'locked') AND ($1 = '' OR r.province = $1) GROUP BY 1, 2, 3, 4
UNION ALL
SELECT b.plan_batch_id, r.task_item, r.province, s.key, 'spent', sum(s.value::bigint)
	FROM progress_reports r JOIN progress_batches b USING (batch_id), jsonb_each_text(r.spent) s
	WHERE r.status IN ('submitted', 'locked') AND ($1 = '' OR r.province = $1) GROUP BY 1, 2, 3, 4`, f.Province)
	if err != nil {
		return nil, fmt.Errorf("progress money: %w", err)
	}
	type moneyKey struct {
		progressKey
		source intent.Source
	}
	by := map[moneyKey]*ProgressMoney{}
	var k moneyKey
	var measure string
	var y int64
	if _, err := pgx.ForEachRow(rows, []any{&k.plan, &k.item, &k.province, &k.source, &measure, &y}, func() error {
		if _, ok := known[[2]string{k.plan, k.item}]; !ok {
			return nil
		}
		m := by[k]
		if m == nil {
			m = &ProgressMoney{PlanBatchID: k.plan, Item: k.item, Province: k.province, Source: k.source}
			by[k] = m
		}
		switch measure {
		case "pledged":
			m.Pledged = intent.Yuan(y)
		case "planned":
			m.Planned = intent.Yuan(y)
		case "spent":
			m.Spent = intent.Yuan(y)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("progress money: %w", err)
	}
	order := map[intent.Source]int{}
	for i, s := range intent.Sources {
		order[s] = i
	}
	out := make([]ProgressMoney, 0, len(by))
	for _, m := range by {
		if m.Pledged != 0 || m.Planned != 0 || m.Spent != 0 {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b ProgressMoney) int {
		return cmp.Or(cmp.Compare(known[[2]string{a.PlanBatchID, a.Item}], known[[2]string{b.PlanBatchID, b.Item}]),
			cmp.Compare(a.Province, b.Province), cmp.Compare(order[a.Source], order[b.Source]))
	})
	return out, nil
}

// ProgressAttention is what needs acting on as of an instant: the
// performance collection of the instant's year, projects past their
// rectification deadline, reports owed after a deadline, batches stuck past
// a stage deadline, intent rounds past their deadline with forms missing.
type ProgressAttention struct {
	Year         int                   `json:"year"` // 0 when no collection has opened
	Collection   *ProgressCollection   `json:"collection,omitempty"`
	OverdueFlags []ProgressOverdueFlag `json:"overdue_flags"`
	OwedReports  []ProgressOwed        `json:"owed_reports"`
	StuckBatches []ProgressStuckBatch  `json:"stuck_batches"`
	LateRounds   []ProgressLateRound   `json:"late_rounds"`
}

// ProgressCollection is a year's submission rate, nationally and per province.
type ProgressCollection struct {
	Year      int                          `json:"year"`
	Deadline  time.Time                    `json:"deadline"`
	Closed    bool                         `json:"closed"`
	Reports   int64                        `json:"reports"`
	Submitted int64                        `json:"submitted"` // standing submissions (submitted or locked)
	Percent   int                          `json:"percent"`
	Provinces []ProgressCollectionProvince `json:"provinces"`
}

// ProgressCollectionProvince is one province's reports of the year.
type ProgressCollectionProvince struct {
	Province  string `json:"province"`
	Reports   int64  `json:"reports"`
	Submitted int64  `json:"submitted"`
}

// ProgressOverdueFlag is a flagged project whose rectification deadline passed.
type ProgressOverdueFlag struct {
	ProjectID string    `json:"project_id"`
	Item      string    `json:"item"`
	Province  string    `json:"province"`
	RectifyBy time.Time `json:"rectify_by"`
}

// ProgressOwed counts a province's reports still owed after a year's deadline.
type ProgressOwed struct {
	Year     int       `json:"year"`
	Province string    `json:"province"`
	Deadline time.Time `json:"deadline"`
	Owed     int64     `json:"owed"`
}

// ProgressStuckBatch is a selection batch past its stage's deadline.
type ProgressStuckBatch struct {
	BatchID  string    `json:"batch_id"`
	Item     string    `json:"item"`
	Stage    string    `json:"stage"`
	Deadline time.Time `json:"deadline"`
}

// ProgressLateRound is an intent round past its deadline, not filed, with
// provinces whose form does not stand.
type ProgressLateRound struct {
	RoundID  string    `json:"round_id"`
	Deadline time.Time `json:"deadline"`
	Missing  int64     `json:"missing"`
}

// maxAttention bounds each list of ProgressAttention: a dashboard shows the
// oldest first and links to the full lists.
const maxAttention = 50

// ReadProgressAttention reads what needs acting on as of now, within the
// filter's province (a province sees neither batches nor rounds, which are
// the ministry's to move, only its own projects and reports).
func ReadProgressAttention(ctx context.Context, q Querier, f ProgressFilter, now time.Time) (ProgressAttention, error) {
	a := ProgressAttention{OverdueFlags: []ProgressOverdueFlag{}, OwedReports: []ProgressOwed{}, StuckBatches: []ProgressStuckBatch{},
		LateRounds: []ProgressLateRound{}}
	year := now.In(calendar.Shanghai).Year()
	rows, err := q.Query(ctx, `SELECT year, deadline, closed FROM progress_collections WHERE year <= $1 ORDER BY year DESC LIMIT 1`, year)
	if err != nil {
		return a, fmt.Errorf("progress collection: %w", err)
	}
	cols, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressCollection, error) {
		var c ProgressCollection
		err := row.Scan(&c.Year, &c.Deadline, &c.Closed)
		return c, err
	})
	if err != nil {
		return a, fmt.Errorf("progress collection: %w", err)
	}
	if len(cols) == 1 {
		c := cols[0]
		a.Year = c.Year
		rows, err := q.Query(ctx, `SELECT province, count(*), count(*) FILTER (WHERE status IN ('submitted', 'locked'))
			FROM progress_reports WHERE year = $1 AND ($2 = '' OR province = $2) GROUP BY province ORDER BY province`, c.Year, f.Province)
		if err != nil {
			return a, fmt.Errorf("progress collection: %w", err)
		}
		c.Provinces, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressCollectionProvince, error) {
			var p ProgressCollectionProvince
			err := row.Scan(&p.Province, &p.Reports, &p.Submitted)
			return p, err
		})
		if err != nil {
			return a, fmt.Errorf("progress collection: %w", err)
		}
		for _, p := range c.Provinces {
			c.Reports += p.Reports
			c.Submitted += p.Submitted
		}
		if c.Reports > 0 {
			c.Percent = int(c.Submitted * 100 / c.Reports)
		}
		if c.Provinces == nil {
			c.Provinces = []ProgressCollectionProvince{}
		}
		a.Collection = &c
	}
	rows, err = q.Query(ctx, `SELECT project_id, task_item, province, rectify_by FROM progress_projects
		WHERE status = 'flagged' AND rectify_by < $1 AND ($2 = '' OR province = $2)
		ORDER BY rectify_by, project_id COLLATE "C" LIMIT $3`, now, f.Province, maxAttention)
	if err != nil {
		return a, fmt.Errorf("overdue flags: %w", err)
	}
	if a.OverdueFlags, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressOverdueFlag, error) {
		var o ProgressOverdueFlag
		err := row.Scan(&o.ProjectID, &o.Item, &o.Province, &o.RectifyBy)
		return o, err
	}); err != nil {
		return a, fmt.Errorf("overdue flags: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT r.year, r.province, c.deadline, count(*) FROM progress_reports r JOIN progress_collections c USING (year)
		WHERE c.deadline < $1 AND r.status NOT IN ('submitted', 'locked') AND ($2 = '' OR r.province = $2)
		GROUP BY 1, 2, 3 ORDER BY 1, 2 LIMIT $3`, now, f.Province, maxAttention)
	if err != nil {
		return a, fmt.Errorf("owed reports: %w", err)
	}
	if a.OwedReports, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressOwed, error) {
		var o ProgressOwed
		err := row.Scan(&o.Year, &o.Province, &o.Deadline, &o.Owed)
		return o, err
	}); err != nil {
		return a, fmt.Errorf("owed reports: %w", err)
	}
	if f.Province != "" {
		return a, nil
	}
	rows, err = q.Query(ctx, `SELECT batch_id, task_item, stage, deadline FROM progress_batches
		WHERE stage <> 'published' AND deadline IS NOT NULL AND (overdue OR deadline < $1)
		ORDER BY deadline, batch_id COLLATE "C" LIMIT $2`, now, maxAttention)
	if err != nil {
		return a, fmt.Errorf("stuck batches: %w", err)
	}
	if a.StuckBatches, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressStuckBatch, error) {
		var b ProgressStuckBatch
		err := row.Scan(&b.BatchID, &b.Item, &b.Stage, &b.Deadline)
		return b, err
	}); err != nil {
		return a, fmt.Errorf("stuck batches: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT r.round_id, r.deadline, r.provinces - (SELECT count(DISTINCT province) FROM progress_intents i WHERE i.round_id = r.round_id)
		FROM progress_rounds r WHERE NOT r.filed AND r.deadline < $1 ORDER BY r.deadline, r.round_id COLLATE "C" LIMIT $2`, now, maxAttention)
	if err != nil {
		return a, fmt.Errorf("late rounds: %w", err)
	}
	late, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ProgressLateRound, error) {
		var l ProgressLateRound
		err := row.Scan(&l.RoundID, &l.Deadline, &l.Missing)
		return l, err
	})
	if err != nil {
		return a, fmt.Errorf("late rounds: %w", err)
	}
	for _, l := range late {
		if l.Missing > 0 {
			a.LateRounds = append(a.LateRounds, l)
		}
	}
	return a, nil
}

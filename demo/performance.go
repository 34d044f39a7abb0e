package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"keytask/domain/intent"
	"keytask/domain/performance"
)

// CollectionYears are the yearly performance collections the demo plays after
// publication, oldest first.
var CollectionYears = []int{2022, 2023, 2024}

// Collection is how one backfilled year's collection is to run.
type Collection struct {
	Year int
	// Deadline is when the schools' reports are due. A backfill keeps the
	// year's nominal start (1 December of that year), from which the
	// schedule's usual deadline is long past: the workflow would mark every
	// report late and close at once, as it must. The demo instead gives the
	// backfilled year a deadline a short window ahead, so schools can still
	// answer in time.
	Deadline time.Time
	// RemindBefore is the one reminder's offset before the deadline; CloseAfter
	// how long after the deadline the collection closes.
	RemindBefore, CloseAfter time.Duration
}

// collectionPhases are the three yearly collections. They run in one phase,
// side by side, as when the platform comes up after those years and the
// operator backfills them at once: each year's deadline and close wait then
// once for all three instead of three times.
func collectionPhases() []Phase {
	first, last := CollectionYears[0], CollectionYears[len(CollectionYears)-1]
	return []Phase{{fmt.Sprintf("%d—%d年度执行绩效采集（%d 个年度并行回填）", first, last, len(CollectionYears)), collectAll}}
}

func collectAll(ctx context.Context, r *Round) (string, error) {
	if r.cfg.StartCollection == nil {
		return "", fmt.Errorf("no way to start the collections")
	}
	want := r.sum(func(b BatchResult) int { return b.Published })
	// A tight window, with one reminder half way. All years share the
	// deadline; when the schools fall behind, the ministry extends it, as it
	// would for real (see supervise), so the window need not be a guess that
	// holds on the slowest machine.
	window := r.d.Scale.CollectionWindow + time.Duration(want*len(CollectionYears))*r.d.Scale.CollectionPerReport
	dl := &sharedDeadline{at: time.Now().Add(window).Truncate(time.Second)}
	first := dl.get()
	// The schedule holds one year's deadline at a time, so the years are
	// started one after another, each once its reports are open.
	opened := make([][]reportRow, len(CollectionYears))
	for i, y := range CollectionYears {
		rows, err := r.openCollection(ctx, Collection{Year: y, Deadline: first, RemindBefore: window / 2, CloseAfter: r.d.Scale.CollectionClose}, want)
		if err != nil {
			return "", fmt.Errorf("%d: %w", y, err)
		}
		opened[i] = rows
	}
	// A reminder offset already past when a year opened is never sent, and
	// the demo checks that the reminder went out.
	if time.Until(first) < window/2 {
		return "", fmt.Errorf("opening the collections took until %s, too close to the deadline %s", time.Now().Format(time.TimeOnly), first.Format(time.TimeOnly))
	}
	// As some provinces ask, the ministry extends the deadline once before
	// anyone reports; the collections' read models must follow.
	if err := r.extendAll(ctx, dl, dl.get().Add(window/5).Truncate(time.Second), "应部分省份申请，延长填报时间"); err != nil {
		return "", err
	}
	for _, y := range CollectionYears {
		want := dl.get()
		err := r.awaitReadModel(ctx, fmt.Sprintf("%d年度绩效采集延期", y), func() (bool, error) {
			res, err := r.c.must(ctx, "GET", fmt.Sprintf("/api/v1/performance/%d", y), r.admin, nil, ok())
			if err != nil {
				return false, err
			}
			var v struct {
				Deadline time.Time `json:"deadline"`
			}
			if err := res.decode(&v); err != nil {
				return false, err
			}
			return v.Deadline.Equal(want), nil
		})
		if err != nil {
			return "", err
		}
	}
	reporting := make(chan struct{})
	supervised := make(chan error, 1)
	go func() { supervised <- r.supervise(ctx, dl, window/2, reporting) }()
	lines := make([]string, len(CollectionYears))
	var reported sync.WaitGroup
	reported.Add(len(CollectionYears))
	go func() { reported.Wait(); close(reporting) }()
	err := parallel(ctx, len(CollectionYears), len(CollectionYears), func(ctx context.Context, i int) error {
		line, err := r.collect(ctx, CollectionYears[i], dl, opened[i], reported.Done)
		if err != nil {
			return fmt.Errorf("%d: %w", CollectionYears[i], err)
		}
		lines[i] = fmt.Sprintf("%d年度 %s", CollectionYears[i], line)
		return nil
	})
	if serr := <-supervised; err == nil {
		err = serr
	}
	if err != nil {
		return "", err
	}
	slices.SortFunc(r.collections, func(a, b CollectionResult) int { return a.Year - b.Year })
	extended := fmt.Sprintf("应省份申请延期 1 次，最终截止 %s", dl.get().Format(time.TimeOnly))
	if n := dl.extensions() - 1; n > 0 {
		extended = fmt.Sprintf("应省份申请延期 1 次，学校未报完时再延期 %d 次，最终截止 %s", n, dl.get().Format(time.TimeOnly))
	}
	return fmt.Sprintf("截止时间 %s（开启后 %.0f 秒；%s）\n        %s", first.Format(time.TimeOnly), window.Seconds(), extended, strings.Join(lines, "\n        ")), nil
}

// sharedDeadline is the deadline the years share, moved by supervise.
type sharedDeadline struct {
	mu    sync.Mutex
	at    time.Time
	moves int
}

func (d *sharedDeadline) get() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at
}

func (d *sharedDeadline) extensions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.moves
}

// supervise extends every year's deadline by step, through the ministry's
// API, whenever it comes within extendMargin while schools are still
// reporting; it returns once they all have (reporting closed).
func (r *Round) supervise(ctx context.Context, dl *sharedDeadline, step time.Duration, reporting <-chan struct{}) error {
	const extendMargin = 8 * time.Second
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-reporting:
			return nil
		case <-t.C:
		}
		at := dl.get()
		if time.Until(at) > extendMargin {
			continue
		}
		if err := r.extendAll(ctx, dl, at.Add(step).Truncate(time.Second), "学校尚未报完，延长填报时间"); err != nil {
			return err
		}
	}
}

// extendAll moves every year's deadline to next, through the ministry's API.
func (r *Round) extendAll(ctx context.Context, dl *sharedDeadline, next time.Time, reason string) error {
	for _, y := range CollectionYears {
		if _, err := r.c.must(ctx, "POST", fmt.Sprintf("/api/v1/performance/%d/extend", y), r.admin,
			map[string]any{"deadline": next.Format(time.RFC3339), "reason": reason}, ok()); err != nil {
			return fmt.Errorf("extend the %d collection's deadline to %s: %w", y, next.Format(time.TimeOnly), err)
		}
	}
	dl.mu.Lock()
	dl.at, dl.moves = next, dl.moves+1
	dl.mu.Unlock()
	return nil
}

// openCollection starts one year's collection through the schedule and waits
// until its reports are open, one per published project.
func (r *Round) openCollection(ctx context.Context, c Collection, want int) ([]reportRow, error) {
	if err := r.cfg.StartCollection(ctx, c); err != nil {
		return nil, err
	}
	var rows []reportRow
	err := r.awaitReadModel(ctx, fmt.Sprintf("%d年度绩效采集开启", c.Year), func() (bool, error) {
		res, err := r.c.call(ctx, "GET", fmt.Sprintf("/api/v1/performance/%d/reports", c.Year), r.admin, nil)
		if err != nil || res.status != http.StatusOK {
			return false, err
		}
		var v struct {
			Reports []reportRow `json:"reports"`
		}
		if err := res.decode(&v); err != nil {
			return false, err
		}
		rows = v.Reports
		return len(rows) >= want, nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) != want {
		return nil, fmt.Errorf("%d reports opened, %d projects published", len(rows), want)
	}
	return rows, nil
}

// reportRow is the part of a report row of the API the demo reads.
type reportRow struct {
	ProjectID string `json:"project_id"`
	School    string `json:"school"`
	Province  string `json:"province"`
	TaskType  string `json:"task_type"`
	Status    string `json:"status"`
}

// reportPlan is what one school does with its report in a year.
type reportPlan struct {
	row      reportRow
	missing  bool // nothing submitted by the deadline
	lateOne  bool // missing, then submitted after the deadline
	returned bool // returned by the ministry once and resubmitted
	locked   bool // locked by the ministry
	draft    bool // saved a draft before submitting
}

// sums is what the demo expects of one province and task type's roll-up.
type sums struct {
	Reports, Submitted, Late int
	Planned, Spent           map[string]int64 // yuan per source
	Indicators               map[string]int64
}

func newSums() *sums {
	return &sums{Planned: map[string]int64{}, Spent: map[string]int64{}, Indicators: map[string]int64{}}
}

// reportInput is a school's report for a year: deterministic per project,
// year and attempt; money in 万元 with four decimals, as the form takes it.
// Every fifth report overspends one source and explains why.
func reportInput(project, taskType string, year, attempt int) (performance.ReportInput, map[string]int64, map[string]int64, map[string]int64, error) {
	seed := hash(fmt.Sprintf("%s/%d/%d", project, year, attempt))
	next := func(n uint64) uint64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return (seed >> 17) % n
	}
	in := performance.ReportInput{Planned: map[string]json.RawMessage{}, Spent: map[string]json.RawMessage{},
		Indicators: map[string]json.RawMessage{}, Summary: fmt.Sprintf("%d年度建设任务按计划推进，完成实训基地建设阶段目标", year)}
	planned, spent, ind := map[string]int64{}, map[string]int64{}, map[string]int64{}
	wan := func(y int64) json.RawMessage {
		return json.RawMessage(`"` + fmt.Sprintf("%d.%04d", y/10000, y%10000) + `"`)
	}
	over := next(5) == 0
	for i, s := range intent.Sources {
		p := int64(next(5_000_0000)) // up to 5,000 万元 in yuan
		sp := int64(next(uint64(p) + 1))
		if over && i == 0 {
			sp = p + int64(next(20_0000)) + 1
			in.Deviation = "追加实训设备投入，经学校党委会研究同意"
		}
		planned[string(s)], spent[string(s)] = p, sp
		in.Planned[string(s)], in.Spent[string(s)] = wan(p), wan(sp)
	}
	tt, ok := performance.Indicators.For(taskType)
	if !ok {
		return in, nil, nil, nil, fmt.Errorf("no indicators for task type %s", taskType)
	}
	for _, x := range tt.Indicators {
		limit := int64(3000)
		switch {
		case x.Kind == performance.KindPercent:
			limit = 100
		case x.Max > 0:
			limit = min(limit, x.Max)
		}
		v := int64(next(uint64(limit) + 1))
		ind[x.Key] = v
		in.Indicators[x.Key] = json.RawMessage(strconv.FormatInt(v, 10))
	}
	return in, planned, spent, ind, nil
}

// collect plays one opened year's collection: the schools answer, the
// ministry returns and locks some, the deadline marks the silent ones late
// and escalates them, one answers late, the collection closes, and the
// roll-ups must equal the demo's own sums of what the schools sent.
func (r *Round) collect(ctx context.Context, year int, dl *sharedDeadline, rows []reportRow, reported func()) (string, error) {
	want := len(rows)
	base := fmt.Sprintf("/api/v1/performance/%d", year)
	slices.SortFunc(rows, func(a, b reportRow) int { return compare(a.ProjectID, b.ProjectID) })

	plans := make([]*reportPlan, len(rows))
	missing := 0
	for i, row := range rows {
		k := hash(fmt.Sprintf("%d/%s", year, row.ProjectID))
		// A quarter of the schools save a draft first, and every school that
		// ends up missing has at least started one.
		p := &reportPlan{row: row, draft: k%4 == 3}
		switch {
		case k%13 == 0 || i == 0 || i == len(rows)/2:
			p.missing = true
		case k%7 == 1 || i == 1:
			p.returned = true
		case k%11 == 2 || i == 2:
			p.locked = true
		}
		if p.missing {
			p.draft = true
			missing++
			p.lateOne = missing == 1
		}
		plans[i] = p
	}

	var (
		expect  = map[[2]string]*sums{}
		late    = map[string]bool{}
		returns int
		locks   int
	)
	for _, p := range plans {
		k := [2]string{p.row.Province, p.row.TaskType}
		if expect[k] == nil {
			expect[k] = newSums()
		}
		expect[k].Reports++
	}
	// final records what a school's standing report holds.
	final := func(p *reportPlan, planned, spent, ind map[string]int64) {
		r.mu.Lock()
		defer r.mu.Unlock()
		s := expect[[2]string{p.row.Province, p.row.TaskType}]
		s.Submitted++
		for k, v := range planned {
			s.Planned[k] += v
		}
		for k, v := range spent {
			s.Spent[k] += v
		}
		for k, v := range ind {
			s.Indicators[k] += v
		}
	}
	path := func(p *reportPlan) string { return base + "/reports/" + p.row.ProjectID }
	submit := func(ctx context.Context, p *reportPlan, attempt int) (bool, error) {
		in, planned, spent, ind, err := reportInput(p.row.ProjectID, p.row.TaskType, year, attempt)
		if err != nil {
			return false, err
		}
		res, err := r.c.must(ctx, "POST", path(p)+"/submit", r.schoolTok[p.row.School], in, ok())
		if err != nil {
			return false, err
		}
		var v struct {
			Late bool `json:"late"`
		}
		if err := res.decode(&v); err != nil {
			return false, err
		}
		if attempt == 1 && v.Late {
			r.mu.Lock()
			late[p.row.ProjectID] = true
			r.mu.Unlock()
		}
		if !p.returned || attempt == 2 {
			final(p, planned, spent, ind)
		}
		return v.Late, nil
	}
	progress := newProgress(r.cfg.Out, fmt.Sprintf("%d年度绩效报告", year), len(plans))
	began := time.Now()
	err := parallel(ctx, len(plans), r.workers(), func(ctx context.Context, i int) error {
		p := plans[i]
		defer progress.add(1)
		tok := r.schoolTok[p.row.School]
		if tok == "" {
			return fmt.Errorf("report of %s: no user for school %s", p.row.ProjectID, p.row.School)
		}
		if p.draft {
			// A draft with the plan's money only, as a school saves its form.
			in, _, _, _, err := reportInput(p.row.ProjectID, p.row.TaskType, year, 1)
			if err != nil {
				return err
			}
			draft := performance.ReportInput{Planned: in.Planned, Summary: "（草稿）" + in.Summary}
			if _, err := r.c.must(ctx, "PUT", path(p)+"/draft", tok, draft, ok()); err != nil {
				return err
			}
		}
		if p.missing {
			return nil
		}
		if _, err := submit(ctx, p, 1); err != nil {
			return err
		}
		switch {
		case p.returned:
			if _, err := r.c.must(ctx, "POST", path(p)+"/return", r.admin,
				map[string]any{"reason": "实际投入与支出凭证不符，请核实后重新提交"}, ok()); err != nil {
				return err
			}
			if _, err := submit(ctx, p, 2); err != nil {
				return err
			}
			r.mu.Lock()
			returns++
			r.mu.Unlock()
		case p.locked:
			if _, err := r.c.must(ctx, "POST", path(p)+"/lock", r.admin, nil, ok()); err != nil {
				return err
			}
			r.mu.Lock()
			locks++
			r.mu.Unlock()
		}
		return nil
	})
	progress.stop()
	reported()
	if err != nil {
		return "", err
	}
	if n := len(late); n > 0 {
		return "", fmt.Errorf("%d reports were marked late while the schools reported: the deadline passed before it was extended", n)
	}
	answered := time.Since(began)

	// The deadline passes (the last one: it may still move while other
	// years' schools report); one silent school answers afterwards, which
	// the collection accepts and marks late.
	for {
		wait := time.Until(dl.get()) + time.Second
		if wait <= 0 {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(min(wait, time.Second)):
		}
	}
	var lateOne *reportPlan
	for _, p := range plans {
		if p.lateOne {
			lateOne = p
		}
	}
	wasLate, err := submit(ctx, lateOne, 1)
	if err != nil {
		return "", fmt.Errorf("late report of %s: %w", lateOne.row.ProjectID, err)
	}
	if !wasLate {
		return "", fmt.Errorf("the report of %s, submitted after the deadline, was not marked late", lateOne.row.ProjectID)
	}

	// The collection closes CloseAfter the deadline.
	var coll struct {
		Stage       string              `json:"stage"`
		Projects    int                 `json:"projects"`
		Reminders   int                 `json:"reminders"`
		Escalations map[string][]string `json:"escalations"`
		Summary     *struct {
			Projects, Submitted, Missing, Late int
		} `json:"summary"`
	}
	err = r.awaitReadModel(ctx, fmt.Sprintf("%d年度绩效采集结束", year), func() (bool, error) {
		res, err := r.c.must(ctx, "GET", base, r.admin, nil, ok())
		if err != nil {
			return false, err
		}
		if err := res.decode(&coll); err != nil {
			return false, err
		}
		return coll.Stage == "closed", nil
	})
	if err != nil {
		return "", err
	}
	stillMissing := missing - 1
	for _, p := range plans {
		if p.missing && !late[p.row.ProjectID] {
			late[p.row.ProjectID] = true // marked at the deadline
		}
	}
	for _, p := range plans {
		if late[p.row.ProjectID] {
			expect[[2]string{p.row.Province, p.row.TaskType}].Late++
		}
	}
	s := coll.Summary
	if s == nil || s.Projects != want || s.Missing != stillMissing || s.Submitted != want-stillMissing || s.Late != len(late) {
		return "", fmt.Errorf("the collection closed with %+v; want %d reports, %d missing, %d late", s, want, stillMissing, len(late))
	}
	// Every report silent at the deadline is escalated to its province, and
	// the reminder reached at least the silent ones.
	for _, p := range plans {
		if p.missing && !slices.Contains(coll.Escalations[p.row.Province], p.row.ProjectID) {
			return "", fmt.Errorf("report %s, missing at the deadline, was not escalated to province %s", p.row.ProjectID, p.row.Province)
		}
	}
	if coll.Reminders < missing {
		return "", fmt.Errorf("%d reminders sent, but %d reports were owed at the reminder", coll.Reminders, missing)
	}
	if err := r.checkRollups(ctx, base, expect); err != nil {
		return "", err
	}
	r.mu.Lock()
	r.collections = append(r.collections, CollectionResult{Year: year, Reports: want, Returned: returns, Locked: locks,
		Late: len(late), Missing: stillMissing, Escalated: len(coll.Escalations), Reminders: coll.Reminders})
	r.mu.Unlock()
	return fmt.Sprintf("%d 份报告（学校 %.1f 秒报完）：%d 份退回后重报，%d 份锁定，%d 份逾期（其中补报 1 份），%d 份未报，向 %d 个省份通报；%d 组汇总与逐份累加一致",
		want, answered.Seconds(), returns, locks, len(late), stillMissing, len(coll.Escalations), len(expect)), nil
}

// CollectionResult is what a year's collection came to.
type CollectionResult struct {
	Year, Reports, Returned, Locked, Late, Missing, Escalated, Reminders int
}

// checkRollups compares the API's roll-ups with the demo's sums, per province
// and task type, to the yuan.
func (r *Round) checkRollups(ctx context.Context, base string, expect map[[2]string]*sums) error {
	res, err := r.c.must(ctx, "GET", base+"/rollups", r.admin, nil, ok())
	if err != nil {
		return err
	}
	type money struct {
		Yuan int64 `json:"yuan"`
	}
	var v struct {
		Rollups []struct {
			Province     string           `json:"province"`
			TaskType     string           `json:"task_type"`
			Reports      int              `json:"reports"`
			Submitted    int              `json:"submitted"`
			Late         int              `json:"late"`
			RatePermille int              `json:"rate_permille"`
			Planned      map[string]money `json:"planned"`
			PlannedTotal money            `json:"planned_total"`
			Spent        map[string]money `json:"spent"`
			SpentTotal   money            `json:"spent_total"`
			Indicators   map[string]int64 `json:"indicators"`
		} `json:"rollups"`
	}
	if err := res.decode(&v); err != nil {
		return err
	}
	if len(v.Rollups) != len(expect) {
		return fmt.Errorf("%d roll-ups, want one per province and task type: %d", len(v.Rollups), len(expect))
	}
	for _, g := range v.Rollups {
		e := expect[[2]string{g.Province, g.TaskType}]
		at := g.Province + "/" + g.TaskType
		if e == nil {
			return fmt.Errorf("roll-up %s: no such reports", at)
		}
		if g.Reports != e.Reports || g.Submitted != e.Submitted || g.Late != e.Late || g.RatePermille != e.Submitted*1000/e.Reports {
			return fmt.Errorf("roll-up %s counts %d reports, %d submitted, %d late (%d‰); the demo %d, %d, %d",
				at, g.Reports, g.Submitted, g.Late, g.RatePermille, e.Reports, e.Submitted, e.Late)
		}
		var pt, st int64
		for _, s := range intent.Sources {
			k := string(s)
			if g.Planned[k].Yuan != e.Planned[k] || g.Spent[k].Yuan != e.Spent[k] {
				return fmt.Errorf("roll-up %s, source %s: planned %d spent %d yuan; the demo sums %d and %d",
					at, k, g.Planned[k].Yuan, g.Spent[k].Yuan, e.Planned[k], e.Spent[k])
			}
			pt += e.Planned[k]
			st += e.Spent[k]
		}
		if g.PlannedTotal.Yuan != pt || g.SpentTotal.Yuan != st {
			return fmt.Errorf("roll-up %s: totals %d and %d yuan; the demo sums %d and %d", at, g.PlannedTotal.Yuan, g.SpentTotal.Yuan, pt, st)
		}
		for _, k := range slices.Sorted(maps.Keys(e.Indicators)) {
			if g.Indicators[k] != e.Indicators[k] {
				return fmt.Errorf("roll-up %s, indicator %s: %d; the demo sums %d", at, k, g.Indicators[k], e.Indicators[k])
			}
		}
		if len(g.Indicators) > len(e.Indicators) && e.Submitted > 0 {
			return fmt.Errorf("roll-up %s has indicators the schools did not send: %v", at, g.Indicators)
		}
	}
	return nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

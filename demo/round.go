package demo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"keytask/domain/calendar"
	"keytask/workflows"
)

// Config is what a demo round needs.
type Config struct {
	// URL is the base URL of keytask's HTTP API; AdminToken a ministry
	// administrator's bearer token there.
	URL        string
	AdminToken string
	Data       *Data
	Out        io.Writer // progress and timings
	// StartBatchClock is called once before the selection batches open with the
	// clock their workflows must run on; it (re)starts the worker with it and
	// makes the API read the batches' present through clock.At. The batches'
	// clock is dilated so that a public notice of working days passes in
	// seconds, and may run in an earlier year than the wall clock (see
	// BatchClock).
	StartBatchClock func(ctx context.Context, clock workflows.DilatedClock) error
	// Calendar is the holiday calendar the worker counts notices on; nil is
	// the embedded one.
	Calendar *calendar.Calendar
	// StartCollection starts a backfilled year's performance collection as
	// production starts collections: through the yearly Temporal Schedule.
	StartCollection func(ctx context.Context, c Collection) error
	// Workers is how many users act at once; 0 means 8.
	Workers int
	// IssueToken gives a user the demo registered a bearer token of their own.
	// The API hands the ministry no token of anyone else's, so the demo, which
	// plays every user, issues them in-process (api.IssueToken).
	IssueToken func(ctx context.Context, userID string) (string, error)
}

// Phase is one step of the round. Phases run in order; a later phase (the
// yearly performance collections, say) is one more entry in Phases.
type Phase struct {
	Name string
	// Run does the phase and returns a line saying what it did.
	Run func(ctx context.Context, r *Round) (string, error)
}

// Phases is the whole first round, in order, ending with the yearly
// performance collections of the published projects.
func Phases() []Phase {
	return append([]Phase{
		{"任务批次与联络员", planAndLiaisons},
		{"承接意向：各省填报提交", intentSubmissions},
		{"人员：学校与专家注册", people},
		{"承接意向：截止并汇总备案", intentFiling},
		{"遴选批次开启（推荐名额取自承接意向）", openBatches},
		{"学校申报并提交", applications},
		{"各省组织推荐", recommendation},
		{"资格审核", qualification},
		{"分配评审专家", assignment},
		{"专家评分", scoringPhase},
		{"排序、确认并进入公示", ranking},
		{"公示与异议处理", notice},
		{"公布名单", publication},
	}, collectionPhases()...)
}

// Round is a round in progress: who is who, and what the API answered.
type Round struct {
	cfg   Config
	c     *client
	d     *Data
	admin string

	mu         sync.Mutex
	provTokens map[string]string
	schoolTok  map[string]string // by school id
	expertTok  map[string]string
	appID      map[*Application]string
	clock      workflows.DilatedClock
	intentDue  time.Time
	results    map[string]*BatchResult
	objections int
	// recommendedIDs are the applications each batch's provinces recommended.
	recommendedIDs map[string][]string
	maxLag         int64
	lagShown       time.Time
	collections    []CollectionResult
}

// BatchResult is what a batch came to.
type BatchResult struct {
	Batch       string
	Applied     int
	Recommended int
	Passed      int
	Failed      int
	Selected    int
	Upheld      int
	Published   int
}

// Result is the outcome of a whole round.
type Result struct {
	Batches     []BatchResult
	Collections []CollectionResult
	Requests    int64
	Phases      []PhaseTime
	Total       time.Duration
	Factor      int64
	MaxLag      int64 // the largest projector backlog seen while waiting, in events
}

// PhaseTime is how long one phase took.
type PhaseTime struct {
	Name string
	Took time.Duration
}

func (r *Round) workers() int {
	if r.cfg.Workers > 0 {
		return r.cfg.Workers
	}
	return 8
}

// Run drives the whole round through the API and reports each phase's wall
// time as it goes. It stops at the first failure.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	r := &Round{cfg: cfg, c: newClient(cfg.URL), d: cfg.Data, admin: cfg.AdminToken,
		provTokens: map[string]string{}, schoolTok: map[string]string{}, expertTok: map[string]string{},
		appID: map[*Application]string{}, results: map[string]*BatchResult{}, recommendedIDs: map[string][]string{}}
	for _, b := range r.d.Batches {
		r.results[b.ID] = &BatchResult{Batch: b.ID, Applied: len(b.Apps)}
	}
	out := cfg.Out
	d := r.d
	fmt.Fprintf(out, "演示规模 %s：%d 个省份参与承接意向，%d 个省份的 %d 所学校，%d 份申报，%d 位专家，%d 个遴选批次\n",
		d.Scale.Name, len(d.Provinces), len(d.Scale.Provinces), len(d.Schools), countApps(d), len(d.Experts), len(d.Batches))
	res := &Result{}
	began := time.Now()
	// The read models are built as the projector starts: the administrator's
	// token works once the users model holds it.
	if err := r.waitTokens(ctx, []string{r.admin}); err != nil {
		return nil, err
	}
	phases := Phases()
	for i, ph := range phases {
		start := time.Now()
		fmt.Fprintf(out, "[%2d/%d] %s …\n", i+1, len(phases), ph.Name)
		what, err := ph.Run(ctx, r)
		took := time.Since(start)
		if err != nil {
			fmt.Fprintf(out, "[%2d/%d] %s 失败（%.1f 秒）：%v\n", i+1, len(phases), ph.Name, took.Seconds(), err)
			return nil, fmt.Errorf("phase %q: %w", ph.Name, err)
		}
		res.Phases = append(res.Phases, PhaseTime{Name: ph.Name, Took: took})
		fmt.Fprintf(out, "[%2d/%d] %s 完成，用时 %.1f 秒：%s\n", i+1, len(phases), ph.Name, took.Seconds(), what)
	}
	res.Total = time.Since(began)
	res.Requests = r.c.sent.Load()
	res.Factor = r.clock.Factor
	res.MaxLag = r.maxLag
	res.Collections = r.collections
	for _, id := range slices.Sorted(maps.Keys(r.results)) {
		res.Batches = append(res.Batches, *r.results[id])
	}
	return res, nil
}

func countApps(d *Data) int {
	n := 0
	for _, b := range d.Batches {
		n += len(b.Apps)
	}
	return n
}

// Report prints the round's outcome and timings.
func (res *Result) Report(w io.Writer) {
	fmt.Fprintf(w, "\n%-14s %6s %6s %6s %6s %6s %6s %6s\n", "遴选批次", "申报", "推荐", "合格", "不合格", "拟入选", "异议成立", "公布")
	for _, b := range res.Batches {
		fmt.Fprintf(w, "%-18s %6d %6d %6d %6d %6d %6d %6d\n", b.Batch, b.Applied, b.Recommended, b.Passed, b.Failed, b.Selected, b.Upheld, b.Published)
	}
	if len(res.Collections) > 0 {
		fmt.Fprintf(w, "\n%-8s %6s %6s %6s %6s %6s %6s %6s\n", "绩效年度", "报告", "退回重报", "锁定", "逾期", "未报", "通报省份", "提醒")
		for _, c := range res.Collections {
			fmt.Fprintf(w, "%-12d %6d %6d %6d %6d %6d %6d %6d\n", c.Year, c.Reports, c.Returned, c.Locked, c.Late, c.Missing, c.Escalated, c.Reminders)
		}
	}
	fmt.Fprintf(w, "\n各阶段用时：\n")
	for _, p := range res.Phases {
		fmt.Fprintf(w, "  %-36s %7.1f 秒\n", p.Name, p.Took.Seconds())
	}
	if res.MaxLag > 0 {
		fmt.Fprintf(w, "等待读模型时投影最大积压 %d 个事件\n", res.MaxLag)
	}
	fmt.Fprintf(w, "整轮用时 %.1f 秒（%s），共 %d 次 API 请求\n", res.Total.Seconds(), res.Total.Round(time.Second), res.Requests)
	if res.Factor > 0 {
		fmt.Fprintf(w, "注：遴选批次的时钟按 %d 倍加速（公示期 5 个工作日约 %.0f 秒），其余均为实际时间\n",
			res.Factor, (7 * 24 * time.Hour / time.Duration(res.Factor)).Seconds())
	}
}

// BatchClock chooses the selection batches' clock for a round at wall time
// now whose public notices start within reach (wall time) of now: as fast as
// 50,000 times real time, in a period cal covers (see
// workflows.CoveredDilatedClock), so that the round takes as long whatever
// today's date.
func BatchClock(now time.Time, reach time.Duration, cal *calendar.Calendar) (workflows.DilatedClock, error) {
	return workflows.CoveredDilatedClock(cal, now, reach, 50_000)
}

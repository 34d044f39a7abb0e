package demo

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"keytask/domain/calendar"
	"keytask/domain/identity"
	"keytask/domain/scoring"
	"keytask/projections"
	"keytask/reference"
)

// register creates a user as the administrator does and returns a token the
// user would have created for themself.
func (r *Round) register(ctx context.Context, userID, name string, role identity.Role, org string) (string, error) {
	if _, err := r.c.must(ctx, "POST", "/api/v1/users", r.admin,
		map[string]any{"user_id": userID, "name": name, "role": role, "organisation": org}, ok()); err != nil {
		return "", err
	}
	return r.cfg.IssueToken(ctx, userID)
}

// waitTokens waits until the users read model accepts every token.
func (r *Round) waitTokens(ctx context.Context, tokens []string) error {
	// The last registered is the last the users model learns of: wait for it
	// (showing the projector's backlog), then check every token.
	last := tokens[len(tokens)-1]
	err := r.awaitReadModel(ctx, "新用户的令牌生效", func() (bool, error) {
		res, err := r.c.call(ctx, "GET", "/api/v1/me", last, nil)
		return err == nil && res.status == http.StatusOK, err
	})
	if err != nil {
		return err
	}
	return parallel(ctx, len(tokens), r.workers(), func(ctx context.Context, i int) error {
		return eventually(ctx, readModelWait, "a new user's token is accepted", func() (bool, error) {
			res, err := r.c.call(ctx, "GET", "/api/v1/me", tokens[i], nil)
			return err == nil && res.status == http.StatusOK, err
		})
	})
}

func planAndLiaisons(ctx context.Context, r *Round) (string, error) {
	d := r.d
	if _, err := r.c.must(ctx, "POST", "/api/v1/plan-batches", r.admin, map[string]any{
		"batch_id": d.PlanID, "name": "“十四五”技工教育重点任务第一批", "items_csv": string(reference.KeyTasks2022Batch1),
	}, ok(), "Idempotency-Key", "demo-plan"); err != nil {
		return "", err
	}
	if _, err := r.c.must(ctx, "PUT", "/api/v1/liaison-deadline", r.admin,
		map[string]any{"deadline": time.Now().Add(30 * 24 * time.Hour).Format(time.RFC3339)}, ok()); err != nil {
		return "", err
	}
	tokens := make([]string, len(d.Provinces))
	err := parallel(ctx, len(d.Provinces), r.workers(), func(ctx context.Context, i int) error {
		p := d.Provinces[i]
		tok, err := r.register(ctx, "prov-"+p, identity.Provinces[p]+"人力资源和社会保障厅", identity.RoleProvince, p)
		tokens[i] = tok
		return err
	})
	if err != nil {
		return "", err
	}
	for i, p := range d.Provinces {
		r.provTokens[p] = tokens[i]
	}
	if err := r.waitTokens(ctx, tokens); err != nil {
		return "", err
	}
	err = parallel(ctx, len(d.Provinces), r.workers(), func(ctx context.Context, i int) error {
		p := d.Provinces[i]
		_, err := r.c.must(ctx, "PUT", "/api/v1/provinces/"+p+"/liaison", r.provTokens[p], map[string]any{
			"name": "联络员" + identity.Provinces[p], "phone": fmt.Sprintf("138%08d", 10000+i),
			"email": fmt.Sprintf("liaison%s@hrss.example.cn", p)}, ok())
		return err
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("批次 %s 共 %d 项任务，%d 个省份登记联络员", d.PlanID, len(d.Items), len(d.Provinces)), nil
}

func intentSubmissions(ctx context.Context, r *Round) (string, error) {
	d := r.d
	r.intentDue = time.Now().Add(d.Scale.IntentWindow).Truncate(time.Second)
	if _, err := r.c.must(ctx, "POST", "/api/v1/intent-rounds", r.admin, map[string]any{
		"round_id": d.PlanID, "batch_id": d.PlanID, "deadline": r.intentDue.Format(time.RFC3339),
	}, ok(), "Idempotency-Key", "demo-intent-round"); err != nil {
		return "", err
	}
	path := "/api/v1/intent-rounds/" + d.PlanID + "/provinces/"
	err := parallel(ctx, len(d.Provinces), r.workers(), func(ctx context.Context, i int) error {
		p := d.Provinces[i]
		form := d.IntentForm(p)
		// A draft first, as a liaison saves the form before sending it.
		draft := form
		if len(draft.Lines) > 1 {
			draft.Lines = draft.Lines[:len(draft.Lines)/2]
		}
		if _, err := r.c.must(ctx, "PUT", path+p+"/draft", r.provTokens[p], draft, ok()); err != nil {
			return err
		}
		_, err := r.c.must(ctx, "POST", path+p+"/submit", r.provTokens[p], form, ok())
		return err
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 个省份保存草稿并提交承接意向表；截止时间 %s", len(d.Provinces), r.intentDue.Format("15:04:05")), nil
}

func people(ctx context.Context, r *Round) (string, error) {
	d := r.d
	tokens := make([]string, len(d.Schools))
	err := parallel(ctx, len(d.Schools), r.workers(), func(ctx context.Context, i int) error {
		s := d.Schools[i]
		tok, err := r.register(ctx, s.User, s.Name, identity.RoleSchool, s.ID)
		tokens[i] = tok
		return err
	})
	if err != nil {
		return "", err
	}
	etokens := make([]string, len(d.Experts))
	err = parallel(ctx, len(d.Experts), r.workers(), func(ctx context.Context, i int) error {
		e := d.Experts[i]
		tok, err := r.register(ctx, e.ID, "专家"+e.ID[len("expert-"):], identity.RoleExpert, "技工教育专家库")
		if err != nil {
			return err
		}
		etokens[i] = tok
		_, err = r.c.must(ctx, "POST", "/api/v1/experts", r.admin, map[string]any{"expert_id": e.ID, "name": "专家" + e.ID[len("expert-"):],
			"expertise": e.Expertise, "province": e.Province, "load": 40}, ok(), "Idempotency-Key", "demo-"+e.ID)
		return err
	})
	if err != nil {
		return "", err
	}
	for i, s := range d.Schools {
		r.schoolTok[s.ID] = tokens[i]
	}
	for i, e := range d.Experts {
		r.expertTok[e.ID] = etokens[i]
	}
	if err := r.waitTokens(ctx, append(tokens, etokens...)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 所学校、%d 位专家（入库）", len(d.Schools), len(d.Experts)), nil
}

func intentFiling(ctx context.Context, r *Round) (string, error) {
	d := r.d
	round := "/api/v1/intent-rounds/" + d.PlanID
	var summary struct {
		Stage          string `json:"stage"`
		SubmittedCount int    `json:"submitted_count"`
		Items          []struct {
			Item     string `json:"item"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
	}
	wait := time.Until(r.intentDue) + 2*time.Minute
	err := eventually(ctx, wait, "the intent round closing at its deadline", func() (bool, error) {
		res, err := r.c.must(ctx, "GET", round+"/summary", r.admin, nil, ok())
		if err != nil {
			return false, err
		}
		return summary.Stage == "closed", res.decode(&summary)
	})
	if err != nil {
		return "", err
	}
	if summary.SubmittedCount != len(d.Provinces) {
		return "", fmt.Errorf("%d of %d provinces submitted before the deadline", summary.SubmittedCount, len(d.Provinces))
	}
	if _, err := r.c.must(ctx, "POST", round+"/file", r.admin, nil, ok()); err != nil {
		return "", err
	}
	// The ministry reads each province's filed form: its quantities are the
	// province's recommendation quotas in the selection batches.
	quantity := map[string]map[string]int{} // item → province → quantity
	for _, p := range d.Provinces {
		res, err := r.c.must(ctx, "GET", round+"/provinces/"+p+"/form", r.admin, nil, ok())
		if err != nil {
			return "", err
		}
		var form struct {
			Status string `json:"status"`
			Lines  []struct {
				Item      string `json:"item"`
				Undertake bool   `json:"undertake"`
				Quantity  int    `json:"quantity"`
			} `json:"lines"`
		}
		if err := res.decode(&form); err != nil {
			return "", err
		}
		for _, l := range form.Lines {
			if l.Undertake && l.Quantity > 0 {
				if quantity[l.Item] == nil {
					quantity[l.Item] = map[string]int{}
				}
				quantity[l.Item][p] = l.Quantity
			}
		}
	}
	national := map[string]int{}
	for _, it := range summary.Items {
		national[it.Item] = it.Quantity
	}
	for _, b := range d.Batches {
		sum := 0
		for p, q := range b.Quotas {
			if quantity[b.Item.Item][p] != q {
				return "", fmt.Errorf("item %s: %s's filed quantity is %d, it declared %d", b.Item.Item, p, quantity[b.Item.Item][p], q)
			}
			sum += q
		}
		if national[b.Item.Item] != sum {
			return "", fmt.Errorf("item %s: the national summary counts %d, the forms %d", b.Item.Item, national[b.Item.Item], sum)
		}
	}
	return fmt.Sprintf("%d 个省份全部按时提交，已汇总备案；推荐名额取自各省承接数量", summary.SubmittedCount), nil
}

// rubric is the score sheet of every batch: three criteria out of 100.
func rubric(taskType string) scoring.Rubric {
	return scoring.Rubric{TaskType: taskType, Criteria: []scoring.Criterion{
		{Key: "base", Name: "建设基础", Weight: 40, Max: 50},
		{Key: "plan", Name: "建设方案", Weight: 35, Max: 35},
		{Key: "support", Name: "保障措施", Weight: 25, Max: 20},
	}}
}

func batchPath(b *Batch) string { return "/api/v1/selection-batches/" + b.ID }

// forBatches runs f for every batch at once, as the ministry handles them side by side.
func (r *Round) forBatches(ctx context.Context, f func(ctx context.Context, b *Batch) error) error {
	return parallel(ctx, len(r.d.Batches), len(r.d.Batches), func(ctx context.Context, i int) error {
		if err := f(ctx, r.d.Batches[i]); err != nil {
			return fmt.Errorf("batch %s: %w", r.d.Batches[i].ID, err)
		}
		return nil
	})
}

func openBatches(ctx context.Context, r *Round) (string, error) {
	clock, err := BatchClock(time.Now(), r.d.Scale.ReachNotice, r.cfg.Calendar)
	if err != nil {
		return "", err
	}
	if err := r.cfg.StartBatchClock(ctx, clock); err != nil {
		return "", err
	}
	r.clock = clock
	now := clock.At(time.Now())
	fmt.Fprintf(r.cfg.Out, "        遴选批次的时钟按 %d 倍加速运行（仅用于演示），从 %s 起算：公示期 5 个工作日约 %.0f 秒后届满\n",
		clock.Factor, now.In(calendar.Shanghai).Format("2006-01-02 15:04"), (7 * 24 * time.Hour / time.Duration(clock.Factor)).Seconds())
	// Stage deadlines far enough that the dilated clock never reaches them
	// before the ministry advances: a year of batch time is over ten minutes
	// of wall time at the fastest clock, while 60 days would be under two,
	// less than a loaded machine may take to assign the experts. They are the
	// batches' times, which may lie in an earlier year than the wall clock's
	// (see BatchClock).
	const stageDays = 365
	deadline := now.Add(stageDays * 24 * time.Hour).Format(time.RFC3339)
	err = r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		// The batch names its plan batch and task item; its province quotas
		// come from the filed intents, which declared b.Quotas.
		res, err := r.c.must(ctx, "POST", "/api/v1/selection-batches", r.admin, map[string]any{
			"batch_id": b.ID, "plan_batch_id": r.d.PlanID, "task_item": b.Item.Item, "quota": b.Quota,
			"per_application": 3, "notice_days": 5, "correction_window_days": 30,
			"period_days": map[string]int{"qualification": stageDays, "expert_review": stageDays}, "rubric": rubric(b.Item.Code),
			"outlier_threshold": 25, "deadline": deadline,
		}, ok())
		if err != nil {
			return err
		}
		var opened struct {
			Quotas map[string]int `json:"province_quotas"`
		}
		if err := res.decode(&opened); err != nil {
			return err
		}
		if !maps.Equal(opened.Quotas, b.Quotas) {
			return fmt.Errorf("quotas %v from the filed intents, the provinces declared %v", opened.Quotas, b.Quotas)
		}
		// The workflow records the opening a moment after it starts.
		return r.awaitReadModel(ctx, "批次 "+b.ID+" 开启", func() (bool, error) {
			res, err := r.c.call(ctx, "GET", batchPath(b), r.admin, nil)
			return err == nil && res.status == http.StatusOK, err
		})
	})
	if err != nil {
		return "", err
	}
	var names []string
	for _, b := range r.d.Batches {
		names = append(names, fmt.Sprintf("%s（名额 %d）", b.Item.Code, b.Quota))
	}
	return strings.Join(names, "、"), nil
}

func applications(ctx context.Context, r *Round) (string, error) {
	var all []*Application
	for _, b := range r.d.Batches {
		all = append(all, b.Apps...)
	}
	ids := make([]string, len(all))
	progress := newProgress(r.cfg.Out, "申报", len(all))
	defer progress.stop()
	err := parallel(ctx, len(all), r.workers(), func(ctx context.Context, i int) error {
		a := all[i]
		token := r.schoolTok[a.School]
		body := map[string]any{"batch_id": BatchID(r.d.PlanID, a.TaskType), "title": a.Title, "fields": a.Fields(r.d)}
		if a.ByProv {
			token = r.provTokens[a.Province]
			body["school"] = a.School
		} else {
			body["province"] = a.Province
		}
		res, err := r.c.must(ctx, "POST", "/api/v1/applications", token, body, ok(), "Idempotency-Key", a.Key)
		if err != nil {
			return err
		}
		var v struct {
			ID string `json:"application_id"`
		}
		if err := res.decode(&v); err != nil {
			return err
		}
		if _, err := r.c.must(ctx, "POST", "/api/v1/applications/"+v.ID+"/submit", token, nil, ok()); err != nil {
			return err
		}
		ids[i] = v.ID
		progress.add(1)
		return nil
	})
	if err != nil {
		return "", err
	}
	for i, a := range all {
		r.appID[a] = ids[i]
	}
	return fmt.Sprintf("%d 份申报已创建并提交", len(all)), nil
}

func recommendation(ctx context.Context, r *Round) (string, error) {
	type job struct {
		b *Batch
		p string
	}
	var jobs []job
	for _, b := range r.d.Batches {
		for _, p := range slices.Sorted(maps.Keys(b.Quotas)) {
			jobs = append(jobs, job{b, p})
		}
	}
	err := parallel(ctx, len(jobs), r.workers(), func(ctx context.Context, i int) error {
		j := jobs[i]
		var ids []string
		for _, a := range j.b.Province[j.p][:j.b.Quotas[j.p]] {
			ids = append(ids, r.appID[a])
		}
		_, err := r.c.must(ctx, "POST", batchPath(j.b)+"/provinces/"+j.p+"/recommend", r.provTokens[j.p],
			map[string]any{"applications": ids}, ok())
		if err == nil {
			r.mu.Lock()
			r.results[j.b.ID].Recommended += len(ids)
			r.recommendedIDs[j.b.ID] = append(r.recommendedIDs[j.b.ID], ids...)
			r.mu.Unlock()
		}
		return err
	})
	if err != nil {
		return "", err
	}
	err = r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		return r.advance(ctx, b, "recommendation", "qualification")
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 次推荐（各省在名额内），%d 份申报进入资格审核", len(jobs), r.sum(func(b BatchResult) int { return b.Recommended })), nil
}

func (r *Round) sum(f func(BatchResult) int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.results {
		n += f(*b)
	}
	return n
}

func (r *Round) advance(ctx context.Context, b *Batch, from, to string) error {
	_, err := r.c.must(ctx, "POST", batchPath(b)+"/advance", r.admin, map[string]any{"from": from, "to": to}, ok())
	return err
}

// batch reads a batch's read model as the ministry.
func (r *Round) batch(ctx context.Context, b *Batch) (projections.SelectionBatchRecord, error) {
	var v projections.SelectionBatchRecord
	res, err := r.c.must(ctx, "GET", batchPath(b), r.admin, nil, ok())
	if err != nil {
		return v, err
	}
	return v, res.decode(&v)
}

func qualification(ctx context.Context, r *Round) (string, error) {
	err := r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		// The ministry reviews the recommended applications (which the demo
		// knows, having recommended them) in one decision.
		ids := slices.Clone(r.recommendedIDs[b.ID])
		slices.Sort(ids)
		var decisions []map[string]any
		failed := 0
		for i, id := range ids {
			d := map[string]any{"application": id, "outcome": "passed"}
			// One in each batch, and about one in forty more, fails, as long as
			// the batch keeps more than its quota.
			if (i == len(ids)/3 || hash(id)%40 == 7) && len(ids)-failed > b.Quota+1 {
				d = map[string]any{"application": id, "outcome": "failed", "reason": "申报材料不符合申报条件"}
				failed++
			}
			decisions = append(decisions, d)
		}
		if _, err := r.c.must(ctx, "POST", batchPath(b)+"/qualify", r.admin, map[string]any{"decisions": decisions}, ok()); err != nil {
			return err
		}
		r.mu.Lock()
		r.results[b.ID].Failed, r.results[b.ID].Passed = failed, len(decisions)-failed
		r.mu.Unlock()
		return r.advance(ctx, b, "qualification", "expert_review")
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 份合格，%d 份不合格", r.sum(func(b BatchResult) int { return b.Passed }),
		r.sum(func(b BatchResult) int { return b.Failed })), nil
}

func assignment(ctx context.Context, r *Round) (string, error) {
	err := r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		if _, err := r.c.must(ctx, "POST", batchPath(b)+"/assign", r.admin, nil, ok()); err != nil {
			return err
		}
		passed := r.results[b.ID].Passed
		return r.awaitReadModel(ctx, "批次 "+b.ID+" 的专家分配", func() (bool, error) {
			v, err := r.batch(ctx, b)
			n := 0
			for _, a := range v.Applications {
				if len(a.Experts) == v.PerApplication {
					n++
				}
			}
			return n == passed, err
		})
	})
	if err != nil {
		return "", err
	}
	return "每份合格申报由 3 位专家评审（按回避规则分配）", nil
}

func scoringPhase(ctx context.Context, r *Round) (string, error) {
	type sheetJob struct {
		b      *Batch
		expert string
		apps   []string
	}
	var jobs []sheetJob
	for _, b := range r.d.Batches {
		v, err := r.batch(ctx, b)
		if err != nil {
			return "", err
		}
		byExpert := map[string][]string{}
		for _, a := range v.Applications {
			for _, e := range a.Experts {
				byExpert[e] = append(byExpert[e], a.ApplicationID)
			}
		}
		for _, e := range slices.Sorted(maps.Keys(byExpert)) {
			jobs = append(jobs, sheetJob{b, e, byExpert[e]})
		}
	}
	maxes := []int{}
	for _, c := range rubric("").Criteria {
		maxes = append(maxes, c.Max)
	}
	progress := newProgress(r.cfg.Out, "专家评分提交", len(jobs))
	defer progress.stop()
	sheets := 0
	err := parallel(ctx, len(jobs), r.workers(), func(ctx context.Context, i int) error {
		j := jobs[i]
		var scores []map[string]any
		for _, app := range j.apps {
			scores = append(scores, map[string]any{"application": app, "criteria": Marks(app, j.expert, maxes)})
		}
		_, err := r.c.must(ctx, "POST", batchPath(j.b)+"/scores", r.expertTok[j.expert], map[string]any{"scores": scores, "declare_no_conflict": true}, ok())
		progress.add(1)
		return err
	})
	for _, j := range jobs {
		sheets += len(j.apps)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 次评分提交，共 %d 张评分表", len(jobs), sheets), nil
}

func ranking(ctx context.Context, r *Round) (string, error) {
	err := r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		res, err := r.c.must(ctx, "POST", batchPath(b)+"/rank", r.admin, nil, ok())
		if err != nil {
			return err
		}
		var v struct {
			Result struct {
				Round    int      `json:"round"`
				Selected []string `json:"selected"`
			} `json:"result"`
		}
		if err := res.decode(&v); err != nil {
			return err
		}
		if _, err := r.c.must(ctx, "POST", batchPath(b)+"/confirm", r.admin, map[string]any{"round": v.Result.Round}, ok()); err != nil {
			return err
		}
		r.mu.Lock()
		r.results[b.ID].Selected = len(v.Result.Selected)
		r.mu.Unlock()
		if err := r.advance(ctx, b, "expert_review", "notice"); err != nil {
			return err
		}
		return r.awaitReadModel(ctx, "批次 "+b.ID+" 的公示页面", func() (bool, error) {
			res, err := r.c.call(ctx, "GET", "/public/notices/"+b.ID, "", nil)
			return err == nil && res.status == http.StatusOK, err
		})
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 份申报列入公示名单", r.sum(func(b BatchResult) int { return b.Selected })), nil
}

var (
	formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)
	filedRE     = regexp.MustCompile(`受理编号：([0-9a-f-]+)`)
)

// objectionPlan: which batches receive a real-name objection during their
// notice and how the ministry rules on it.
var objectionPlan = map[string]string{"YZYX": "upheld", "YZZY": "dismissed", "JPKC": "dismissed"}

func notice(ctx context.Context, r *Round) (string, error) {
	err := r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		outcome, ok := objectionPlan[b.Item.Code]
		if ok {
			v, err := r.batch(ctx, b)
			if err != nil {
				return err
			}
			if v.Notice == nil || len(v.Notice.List) == 0 {
				return fmt.Errorf("no notice list in the read model")
			}
			app := v.Notice.List[len(v.Notice.List)/2]
			page, err := r.c.must(ctx, "GET", "/public/notices/"+b.ID, "", nil, []int{http.StatusOK})
			if err != nil {
				return err
			}
			m := formTokenRE.FindSubmatch(page.body)
			if m == nil {
				return fmt.Errorf("the notice page has no objection form")
			}
			form := url.Values{"name": {"欧阳明"}, "contact": {"13812345678"}, "application": {app},
				"text": {"该申报填报的在校生人数与实际情况不符，请核查"}, "form_token": {string(m[1])}}
			filed, err := r.c.must(ctx, "POST", "/public/notices/"+b.ID+"/objections", "", form, []int{http.StatusCreated})
			if err != nil {
				return err
			}
			f := filedRE.FindSubmatch(filed.body)
			if f == nil {
				return fmt.Errorf("the objection page shows no number")
			}
			reason := "经核查，异议不成立"
			if outcome == "upheld" {
				reason = "经核查，异议属实，取消入选资格"
			}
			if _, err := r.c.must(ctx, "POST", batchPath(b)+"/objections/"+string(f[1])+"/adjudicate", r.admin,
				map[string]any{"outcome": outcome, "reason": reason}, nil); err != nil {
				return err
			}
			r.mu.Lock()
			r.objections++
			if outcome == "upheld" {
				r.results[b.ID].Upheld++
			}
			r.mu.Unlock()
		}
		// The notice ends when the batch's deadline timer fires.
		return r.awaitReadModel(ctx, "批次 "+b.ID+" 的公示期满", func() (bool, error) {
			v, err := r.batch(ctx, b)
			return v.Stage == "notice" && v.Overdue, err
		})
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("公示期满；受理实名异议 %d 件，成立 %d 件", r.objections, r.sum(func(b BatchResult) int { return b.Upheld })), nil
}

func publication(ctx context.Context, r *Round) (string, error) {
	err := r.forBatches(ctx, func(ctx context.Context, b *Batch) error {
		if _, err := r.c.must(ctx, "POST", batchPath(b)+"/publish", r.admin, nil, ok()); err != nil {
			return err
		}
		var v projections.SelectionBatchRecord
		err := r.awaitReadModel(ctx, "批次 "+b.ID+" 的公布名单", func() (bool, error) {
			var err error
			v, err = r.batch(ctx, b)
			return v.Stage == "published" && len(v.Published) > 0, err
		})
		if err != nil {
			return err
		}
		res := r.results[b.ID]
		// An upheld objection moves the next-ranked application up onto the
		// notice (递补), when one at or above the pass scores is left.
		movedUp := 0
		if v.Notice != nil {
			movedUp = len(v.Notice.List) - res.Selected
		}
		if want := res.Selected - res.Upheld + movedUp; len(v.Published) != want {
			return fmt.Errorf("%d published, want %d (%d selected, %d objections upheld, %d moved up)", len(v.Published), want, res.Selected, res.Upheld, movedUp)
		}
		if _, err := r.c.must(ctx, "GET", "/public/publications/"+b.ID, "", nil, []int{http.StatusOK}); err != nil {
			return err
		}
		r.mu.Lock()
		res.Published = len(v.Published)
		r.mu.Unlock()
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d 个批次公布，共 %d 个项目入选", len(r.d.Batches), r.sum(func(b BatchResult) int { return b.Published })), nil
}

package notifications

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"keytask/domain/identity"
	"keytask/domain/selection"
	"keytask/events"
)

// selectionApp is what a selection notice says of an application and whom
// it tells: its title and its school.
type selectionApp struct {
	school string
	title  string
}

// selectionFacts are the applications a selection event's notices name,
// looked up from the application read model, and for a publication every
// application the batch ranked or reviewed.
type selectionFacts struct {
	apps  map[string]selectionApp
	batch []string // a publication: the batch's recommended applications
}

// lookupSelection reads the facts of a selection event's notices.
func lookupSelection(ctx context.Context, tx pgx.Tx, e events.Event, payload any) (selectionFacts, error) {
	var ids []string
	var f selectionFacts
	switch p := payload.(type) {
	case selection.QualificationDecided:
		for _, d := range p.Decisions {
			if d.Outcome == selection.Returned {
				ids = append(ids, d.Application)
			}
		}
	case selection.ObjectionFiled:
		ids = []string{p.Application}
	case selection.SuccessorNoticed:
		ids = []string{p.Application}
	case selection.SelectionBatchPublished:
		rows, err := tx.Query(ctx, `SELECT application_id FROM selection_batch_applications WHERE batch_id = $1
			ORDER BY application_id COLLATE "C"`, strings.TrimPrefix(e.StreamID, selection.SelectionBatchStream("")))
		if err != nil {
			return f, err
		}
		if f.batch, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return f, err
		}
		ids = append(slices.Clone(f.batch), p.List...)
	default:
		return f, nil
	}
	f.apps = map[string]selectionApp{}
	rows, err := tx.Query(ctx, `SELECT application_id, school, title FROM selection_applications WHERE application_id = ANY($1)`, ids)
	if err != nil {
		return f, err
	}
	var id string
	var a selectionApp
	if _, err := pgx.ForEachRow(rows, []any{&id, &a.school, &a.title}, func() error {
		f.apps[id] = a
		return nil
	}); err != nil {
		return f, err
	}
	return f, nil
}

// renderSelection says what a selection batch's event tells whom: one notice
// per province, school or expert concerned, each with its own key (the event
// and the recipient), so that no one is told twice. ok reports whether the
// event's type tells anyone at all, however many it tells this time.
func renderSelection(eventID, batchID string, payload any, f selectionFacts) (out []notice, ok bool) {
	school := func(app, kind, title, body string) {
		a, ok := f.apps[app]
		if !ok || a.school == "" {
			return // an application the log never created tells nobody
		}
		out = append(out, notice{kind: kind, title: title, body: body, dedup: eventID + "/" + app,
			to: audience{roles: []roleOrg{{identity.RoleSchool, a.school}}}})
	}
	named := func(app string) string {
		if t := f.apps[app].title; t != "" {
			return fmt.Sprintf("“%s”（%s）", t, app)
		}
		return app
	}
	ok = true
	switch p := payload.(type) {
	case selection.SelectionBatchOpened:
		for _, prov := range slices.Sorted(maps.Keys(p.ProvinceQuotas)) {
			if p.ProvinceQuotas[prov] <= 0 {
				continue
			}
			out = append(out, notice{kind: "selection_opened", title: "遴选批次开始组织推荐",
				body: fmt.Sprintf("遴选批次 %s（任务 %s）已开始组织推荐，%s的推荐名额为 %d 份，请于%s前完成推荐。",
					p.BatchID, p.TaskItem, provinceName(prov), p.ProvinceQuotas[prov], when(p.Deadline)),
				dedup: eventID + "/" + prov,
				to:    audience{roles: []roleOrg{{identity.RoleProvince, prov}}, liaisonOf: prov}})
		}
	case selection.QualificationDecided:
		for _, d := range p.Decisions {
			if d.Outcome != selection.Returned {
				continue
			}
			school(d.Application, "selection_returned", "申报被退回补正",
				fmt.Sprintf("您的申报%s在遴选批次 %s 的资格审核中被退回补正，原因：%s。请于%s前修改并重新提交，逾期视为放弃。",
					named(d.Application), batchID, d.Reason, when(d.Until)))
		}
	case selection.ExpertsAssigned:
		n := map[string]int{}
		for _, a := range p.Assignments {
			for _, ex := range a.Experts {
				n[ex]++
			}
		}
		for _, ex := range slices.Sorted(maps.Keys(n)) {
			out = append(out, notice{kind: "selection_assigned", title: "专家评审任务",
				body:  fmt.Sprintf("您被分配评审遴选批次 %s 的 %d 份申报。请在评分前签署无利益冲突声明，并在评审截止时间前完成评分。", batchID, n[ex]),
				dedup: eventID + "/" + ex, to: audience{users: []string{ex}}})
		}
	case selection.ObjectionFiled:
		// The objector's name and contact stay out of the notice (personal data).
		out = append(out, notice{kind: "selection_objection", title: "公示期收到实名异议",
			body: fmt.Sprintf("遴选批次 %s 公示期间收到针对申报%s的实名异议（编号 %s），请及时调查核实并作出处理结论。",
				batchID, named(p.Application), p.ObjectionID),
			dedup: eventID, to: audience{roles: []roleOrg{{identity.RoleMinistry, identity.MinistryOrganisation}}}})
	case selection.SuccessorNoticed:
		school(p.Application, "selection_moved_up", "申报递补公示",
			fmt.Sprintf("遴选批次 %s 中原列入公示名单的申报 %s 因异议成立被取消，您的申报%s依次递补，现予公示，公示期至%s。",
				batchID, p.Replaces, named(p.Application), when(p.End)))
	case selection.SelectionBatchPublished:
		for _, app := range slices.Sorted(maps.Keys(f.apps)) {
			if slices.Contains(p.List, app) {
				school(app, "selection_published", "遴选结果公布：入选",
					fmt.Sprintf("遴选批次 %s 结果已公布，您的申报%s列入公布名单。可在平台查看评审情况摘要。", batchID, named(app)))
			} else if slices.Contains(f.batch, app) {
				school(app, "selection_published", "遴选结果公布",
					fmt.Sprintf("遴选批次 %s 结果已公布，您的申报%s未列入公布名单。可在平台查看评审情况摘要。", batchID, named(app)))
			}
		}
	default:
		ok = false
	}
	return out, ok
}

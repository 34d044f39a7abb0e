package notifications

import (
	"fmt"
	"strings"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/tracking"
)

// facts are what a notice needs beyond its event's data, looked up from
// earlier events (see lookup): whose report was returned, whose project it is.
type facts struct {
	report  reportFacts
	project projectFacts
}

// reportFacts name a performance report and its school, from its ReportOpened.
type reportFacts struct {
	year    int
	project string
	school  string
}

// projectFacts are a project's school and province, from its ProjectCreated
// and its application.
type projectFacts struct {
	school   string
	province string
}

// render says what an event's data tells whom, given the facts looked up for
// it; ok is false for data that tells nobody. eventID is the notice's source
// where the data has no key of its own. It does no I/O, so every notice's
// wording is tested without a database.
func render(eventID string, payload any, f facts) (nt notice, ok bool) {
	switch p := payload.(type) {
	case intent.IntentReminderSent:
		return notice{
			kind:  "intent_reminder",
			title: "承接意向表填报提醒",
			body: fmt.Sprintf("%s尚未提交承接意向表（轮次 %s），距截止时间还有%s，请尽快填报并提交。",
				provinceName(p.Province), p.RoundID, duration(p.Offset)),
			dedup: fmt.Sprintf("intent-reminder/%s/%s/%d", p.RoundID, p.Province, int64(p.Offset)),
			to:    audience{roles: []roleOrg{{identity.RoleProvince, p.Province}}, liaisonOf: p.Province},
		}, true

	case performance.ReminderSent:
		return notice{
			kind:  "performance_reminder",
			title: fmt.Sprintf("%d年度执行绩效填报提醒", p.Year),
			body: fmt.Sprintf("项目 %s 的%d年度执行绩效报告尚未提交，截止时间为%s（还有%s），请尽快填报并提交。",
				p.ProjectID, p.Year, when(p.Deadline), duration(p.Offset)),
			dedup: fmt.Sprintf("performance-reminder/%d/%s/%d", p.Year, p.ProjectID, int64(p.Offset)),
			to:    audience{roles: []roleOrg{{identity.RoleSchool, p.School}}},
		}, true

	case performance.CollectionDeadlineExtended:
		// The schools still owing a report when the deadline moved, as the
		// event lists them; one notice per school user however many of its
		// reports are owed.
		body := fmt.Sprintf("%d年度执行绩效采集截止时间已延长至%s，请在截止时间前提交执行绩效报告。", p.Year, when(p.To))
		if p.Reason != "" {
			body += "延期说明：" + p.Reason
		}
		to := audience{}
		for _, school := range p.Schools {
			to.roles = append(to.roles, roleOrg{identity.RoleSchool, school})
		}
		return notice{kind: "performance_extended", title: fmt.Sprintf("%d年度执行绩效采集延期", p.Year), body: body,
			dedup: eventID, to: to}, true

	case performance.Escalated:
		return notice{
			kind:  "performance_escalation",
			title: fmt.Sprintf("%d年度执行绩效逾期未报", p.Year),
			body: fmt.Sprintf("%s有%d个项目未在截止时间%s前提交%d年度执行绩效报告：%s。请督促相关学校尽快提交。",
				provinceName(p.Province), len(p.Projects), when(p.Deadline), p.Year, strings.Join(p.Projects, "、")),
			dedup: eventID,
			to:    audience{roles: []roleOrg{{identity.RoleProvince, p.Province}}, liaisonOf: p.Province},
		}, true

	case performance.ReportReturned:
		// The report is named as its ReportOpened named it, and goes to that
		// school.
		r := f.report
		body := fmt.Sprintf("项目 %s 的%d年度执行绩效报告已被退回", r.project, r.year)
		if p.Reason != "" {
			body += "，退回原因：" + p.Reason
		}
		return notice{
			kind:  "performance_returned",
			title: "执行绩效报告被退回",
			body:  body + "。请修改后重新提交。",
			dedup: eventID,
			to:    audience{roles: []roleOrg{{identity.RoleSchool, r.school}}},
		}, true

	case tracking.InspectionScheduled:
		body := fmt.Sprintf("项目 %s 将于%s接受检查评估，请做好准备。", p.ProjectID, day(p.Date))
		if p.Note != "" {
			body += "说明：" + p.Note
		}
		return projectNotice(eventID, f.project, "inspection_scheduled", "检查评估安排", body), true

	case tracking.ProjectFlagged:
		return projectNotice(eventID, f.project, "project_flagged", "项目整改通知",
			fmt.Sprintf("项目 %s 需要整改，原因：%s。整改期限：%s。", p.ProjectID, p.Reason, day(p.RectifyBy))), true

	case tracking.RectificationReminded:
		return projectNotice(eventID, f.project, "rectification_reminder", "项目整改期限提醒",
			fmt.Sprintf("项目 %s 的整改期限为%s，距截止还有%s，尚未确认整改完成，请抓紧整改并报送整改情况。",
				p.ProjectID, day(p.RectifyBy.Add(-time.Second)), duration(p.Offset))), true

	case tracking.RectificationOverdue:
		// The escalation goes to the ministry, which decides what follows;
		// the school and province learn that it was escalated.
		nt := projectNotice(eventID, f.project, "rectification_overdue", "项目整改逾期",
			fmt.Sprintf("项目 %s（%s）整改期限%s已过，尚未确认整改完成，已报部处理。整改原因：%s。",
				p.ProjectID, provinceName(f.project.province), day(p.RectifyBy.Add(-time.Second)), p.Reason))
		nt.to.roles = append(nt.to.roles, roleOrg{identity.RoleMinistry, identity.MinistryOrganisation})
		return nt, true

	case tracking.EvaluatorAssigned:
		return notice{kind: "evaluator_assigned", title: "第三方评估任务", dedup: eventID,
			body: fmt.Sprintf("您已被指派评估项目 %s，可查阅该项目并提交评估意见。", p.ProjectID),
			to:   audience{users: []string{p.Evaluator}}}, true

	case tracking.ProjectAccepted:
		return projectNotice(eventID, f.project, "project_accepted", "项目验收通过",
			fmt.Sprintf("项目 %s 已于%s通过验收，验收结论：%s。", p.ProjectID, day(p.AcceptedAt), p.Conclusion)), true

	case tracking.ProjectRevoked:
		return projectNotice(eventID, f.project, "project_revoked", "项目撤销通知",
			fmt.Sprintf("项目 %s 已被撤销，原因：%s。", p.ProjectID, p.Reason)), true
	}
	return notice{}, false
}

// projectNotice addresses a notice about a project to its school and its
// province.
func projectNotice(eventID string, p projectFacts, kind, title, body string) notice {
	return notice{kind: kind, title: title, body: body, dedup: eventID,
		to: audience{roles: []roleOrg{{identity.RoleSchool, p.school}, {identity.RoleProvince, p.province}}}}
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func when(t time.Time) string { return t.In(shanghai).Format("2006年1月2日 15:04") }
func day(t time.Time) string  { return t.In(shanghai).Format("2006年1月2日") }

func provinceName(code string) string {
	if n, ok := identity.Provinces[code]; ok {
		return n
	}
	return code
}

// duration says an offset in days, or hours below a day.
func duration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d天", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%d小时", d/time.Hour)
	default:
		return fmt.Sprintf("%d分钟", d/time.Minute)
	}
}

package notifications

import (
	"reflect"
	"testing"
	"time"

	"keytask/domain/identity"
	"keytask/domain/intent"
	"keytask/domain/performance"
	"keytask/domain/tracking"
	"keytask/events"
	"keytask/eventtypes"
)

// at is an instant in Beijing time, as notices word it.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRender(t *testing.T) {
	const id = "6d0c1a52-0000-4000-8000-000000000001"
	project := facts{project: projectFacts{school: "11-001", province: "11"}}
	toProject := audience{roles: []roleOrg{{identity.RoleSchool, "11-001"}, {identity.RoleProvince, "11"}}}
	for _, c := range []struct {
		name    string
		payload any
		facts   facts
		want    notice
	}{
		{"IntentReminder", intent.IntentReminderSent{RoundID: "r1", Province: "11", Offset: 72 * time.Hour}, facts{}, notice{
			kind: "intent_reminder", title: "承接意向表填报提醒",
			body:  "北京市尚未提交承接意向表（轮次 r1），距截止时间还有3天，请尽快填报并提交。",
			dedup: "intent-reminder/r1/11/259200000000000",
			to:    audience{roles: []roleOrg{{identity.RoleProvince, "11"}}, liaisonOf: "11"},
		}},
		{"PerformanceReminderInHours", performance.ReminderSent{Year: 2023, ProjectID: "B1.A1", School: "11-001", Province: "11",
			Offset: 6 * time.Hour, Deadline: at("2023-12-31 18:00")}, facts{}, notice{
			kind: "performance_reminder", title: "2023年度执行绩效填报提醒",
			body:  "项目 B1.A1 的2023年度执行绩效报告尚未提交，截止时间为2023年12月31日 18:00（还有6小时），请尽快填报并提交。",
			dedup: "performance-reminder/2023/B1.A1/21600000000000",
			to:    audience{roles: []roleOrg{{identity.RoleSchool, "11-001"}}},
		}},
		{"DeadlineExtended", performance.CollectionDeadlineExtended{Year: 2023, To: at("2024-01-20 18:00"), Reason: "系统维护",
			Schools: []string{"11-001", "12-002"}}, facts{}, notice{
			kind: "performance_extended", title: "2023年度执行绩效采集延期",
			body:  "2023年度执行绩效采集截止时间已延长至2024年1月20日 18:00，请在截止时间前提交执行绩效报告。延期说明：系统维护",
			dedup: id,
			to:    audience{roles: []roleOrg{{identity.RoleSchool, "11-001"}, {identity.RoleSchool, "12-002"}}},
		}},
		{"Escalated", performance.Escalated{Year: 2023, Province: "12", Projects: []string{"B1.A1", "B1.A2"}, Deadline: at("2023-12-31 18:00")}, facts{}, notice{
			kind: "performance_escalation", title: "2023年度执行绩效逾期未报",
			body:  "天津市有2个项目未在截止时间2023年12月31日 18:00前提交2023年度执行绩效报告：B1.A1、B1.A2。请督促相关学校尽快提交。",
			dedup: id,
			to:    audience{roles: []roleOrg{{identity.RoleProvince, "12"}}, liaisonOf: "12"},
		}},
		{"ReportReturnedNamesTheOpenedReport", performance.ReportReturned{Year: 2023, ProjectID: "B1.A1", Reason: "支出明细缺失"},
			facts{report: reportFacts{year: 2023, project: "B1.A1", school: "11-001"}}, notice{
				kind: "performance_returned", title: "执行绩效报告被退回",
				body:  "项目 B1.A1 的2023年度执行绩效报告已被退回，退回原因：支出明细缺失。请修改后重新提交。",
				dedup: id,
				to:    audience{roles: []roleOrg{{identity.RoleSchool, "11-001"}}},
			}},
		{"ReportReturnedWithoutReason", performance.ReportReturned{}, facts{report: reportFacts{year: 2024, project: "B2.A9", school: "12-002"}}, notice{
			kind: "performance_returned", title: "执行绩效报告被退回",
			body:  "项目 B2.A9 的2024年度执行绩效报告已被退回。请修改后重新提交。",
			dedup: id,
			to:    audience{roles: []roleOrg{{identity.RoleSchool, "12-002"}}},
		}},
		{"InspectionScheduled", tracking.InspectionScheduled{ProjectID: "B1.A1", Date: at("2024-03-05 00:00"), Note: "现场检查"}, project, notice{
			kind: "inspection_scheduled", title: "检查评估安排",
			body: "项目 B1.A1 将于2024年3月5日接受检查评估，请做好准备。说明：现场检查", dedup: id, to: toProject,
		}},
		{"ProjectFlagged", tracking.ProjectFlagged{ProjectID: "B1.A1", Reason: "进度滞后", RectifyBy: at("2024-06-30 00:00")}, project, notice{
			kind: "project_flagged", title: "项目整改通知",
			body: "项目 B1.A1 需要整改，原因：进度滞后。整改期限：2024年6月30日。", dedup: id, to: toProject,
		}},
		{"EvaluatorAssigned", tracking.EvaluatorAssigned{ProjectID: "B1.A1", Evaluator: "eval-1"}, facts{}, notice{
			kind: "evaluator_assigned", title: "第三方评估任务",
			body: "您已被指派评估项目 B1.A1，可查阅该项目并提交评估意见。", dedup: id, to: audience{users: []string{"eval-1"}},
		}},
		{"ProjectAccepted", tracking.ProjectAccepted{ProjectID: "B1.A1", AcceptedAt: at("2025-06-30 10:00"), Conclusion: "通过"}, project, notice{
			kind: "project_accepted", title: "项目验收通过",
			body: "项目 B1.A1 已于2025年6月30日通过验收，验收结论：通过。", dedup: id, to: toProject,
		}},
		{"ProjectRevoked", tracking.ProjectRevoked{ProjectID: "B1.A1", Reason: "弄虚作假"}, project, notice{
			kind: "project_revoked", title: "项目撤销通知",
			body: "项目 B1.A1 已被撤销，原因：弄虚作假。", dedup: id, to: toProject,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := render(id, c.payload, c.facts)
			if !ok {
				t.Fatal("tells nobody")
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestRenderTellsExactlyTheToldTypes keeps the notifier's list of types it
// decodes for notices and the notices render words in step: every registered
// type renders a notice if and only if it is told.
func TestRenderTellsExactlyTheToldTypes(t *testing.T) {
	for _, typ := range eventtypes.Registry.Types() {
		payload, err := eventtypes.Registry.Decode(events.Event{Type: typ, SchemaVersion: 1, Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		_, ok := render("e", payload, facts{})
		if _, sel := renderSelection("e", "b", payload, selectionFacts{}); sel {
			ok = true
		}
		if ok != told[typ] {
			t.Errorf("%s: renders a notice %v, told %v", typ, ok, told[typ])
		}
		if told[typ] && kept[typ] {
			t.Errorf("%s is both told and kept", typ)
		}
	}
}

package intent_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"keytask/domain"
	"keytask/domain/intent"
)

var (
	cst      = time.FixedZone("CST", 8*3600)
	opened   = time.Date(2022, 4, 24, 9, 0, 0, 0, cst)
	deadline = time.Date(2022, 6, 15, 0, 0, 0, 0, cst) // 于 2022 年 6 月 15 日前
)

func openRound(t tb, provinces ...string) intent.RoundState {
	t.Helper()
	_, s, err := intent.OpenRound(intent.IntentRoundOpened{
		RoundID: "2022-1", BatchID: "2022-1", Items: batch1(), Provinces: provinces, Deadline: deadline,
		ReminderOffsets: []time.Duration{7 * 24 * time.Hour, 24 * time.Hour},
	}, opened)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodForm undertakes 2.1 with money.
func goodForm(t tb) intent.FormInput {
	return parseInput(t, `{"lines":[{"item":"2.1","undertake":true,"quantity":5,"funds":{"provincial":"1200.5"}}]}`)
}

func apply(t tb, s *intent.RoundState, e any, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("decision refused: %v", err)
	}
	if err := s.Apply(e); err != nil {
		t.Fatal(err)
	}
}

// wantField asserts a *domain.FieldError (not a conflict) on field.
func wantField(t tb, err error, field, message string) {
	t.Helper()
	var ce *domain.ConflictError
	var fe *domain.FieldError
	if errors.As(err, &ce) || !errors.As(err, &fe) {
		t.Fatalf("err = %#v, want a field error on %s", err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Message, message) {
		t.Fatalf("field %q message %q, want field %q message containing %q", fe.Field, fe.Message, field, message)
	}
}

func wantConflict(t tb, err error, message string) {
	t.Helper()
	var ce *domain.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %#v, want a conflict", err)
	}
	if !strings.Contains(ce.Message, message) {
		t.Fatalf("message %q, want it to contain %q", ce.Message, message)
	}
}

func TestOpenRound(t *testing.T) {
	t.Run("EveryProvinceByDefault", func(t *testing.T) {
		e, s, err := intent.OpenRound(intent.IntentRoundOpened{RoundID: "r", BatchID: "b", Items: batch1(), Deadline: deadline}, opened)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Provinces) != 32 || !slices.IsSorted(e.Provinces) || len(s.Provinces) != 32 {
			t.Fatalf("provinces %v, want all 32 sorted", e.Provinces)
		}
		if s.Stage != intent.StageOpen || s.Provinces["44"].Status != intent.StatusNone {
			t.Fatalf("state %+v", s)
		}
	})
	base := func() intent.IntentRoundOpened {
		return intent.IntentRoundOpened{RoundID: "r", BatchID: "b", Items: batch1(), Provinces: []string{"44", "11"}, Deadline: deadline}
	}
	cases := []struct {
		name, field string
		edit        func(*intent.IntentRoundOpened)
	}{
		{"NoRoundID", "round_id", func(o *intent.IntentRoundOpened) { o.RoundID = " " }},
		{"NoBatch", "batch_id", func(o *intent.IntentRoundOpened) { o.BatchID = "" }},
		{"NoItems", "items", func(o *intent.IntentRoundOpened) { o.Items = nil }},
		{"RepeatedItem", "items[8].item", func(o *intent.IntentRoundOpened) { o.Items = append(o.Items, o.Items[0]) }},
		{"BadKind", "items[0].kind", func(o *intent.IntentRoundOpened) { o.Items[0].Kind = "other" }},
		{"UnknownProvince", "provinces[1]", func(o *intent.IntentRoundOpened) { o.Provinces[1] = "99" }},
		{"RepeatedProvince", "provinces[1]", func(o *intent.IntentRoundOpened) { o.Provinces[1] = "44" }},
		{"PastDeadline", "deadline", func(o *intent.IntentRoundOpened) { o.Deadline = opened }},
		{"OffsetNotBefore", "reminder_offsets[0]", func(o *intent.IntentRoundOpened) { o.ReminderOffsets = []time.Duration{0} }},
		{"OffsetRepeated", "reminder_offsets[1]", func(o *intent.IntentRoundOpened) { o.ReminderOffsets = []time.Duration{time.Hour, time.Hour} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.edit(&o)
			_, _, err := intent.OpenRound(o, opened)
			wantField(t, err, c.field, "")
		})
	}
}

func TestDraftSubmitReturnResubmit(t *testing.T) {
	s := openRound(t, "44", "11")
	now := opened.Add(time.Hour)

	d, err := s.SaveDraft("44", goodForm(t), nil, now)
	apply(t, &s, d, err)
	if s.Provinces["44"].Status != intent.StatusDraft || d.Form.Total != 12005000 {
		t.Fatalf("after draft: %+v, total %d", s.Provinces["44"], d.Form.Total)
	}
	sub, err := s.Submit("44", goodForm(t), nil, now)
	apply(t, &s, sub, err)
	if s.Provinces["44"].Status != intent.StatusSubmitted || sub.Late {
		t.Fatalf("after submit: %+v", s.Provinces["44"])
	}

	_, err = s.SaveDraft("44", goodForm(t), nil, now)
	wantConflict(t, err, "须经部退回后方可修改")
	_, err = s.Submit("44", goodForm(t), nil, now)
	wantConflict(t, err, "须经部退回")

	_, err = s.Return("44", "  ")
	wantField(t, err, "reason", "请填写退回原因")
	_, err = s.Return("44", strings.Repeat("长", intent.MaxReasonRunes+1))
	wantField(t, err, "reason", "不能超过")
	_, err = s.Return("11", "数量有误")
	wantConflict(t, err, "尚未提交，不能退回")
	ret, err := s.Return("44", "  2.1 承接数量与学校申报不符  ")
	apply(t, &s, ret, err)
	if ret.Reason != "2.1 承接数量与学校申报不符" || s.Provinces["44"].Status != intent.StatusReturned {
		t.Fatalf("returned: %+v, %+v", ret, s.Provinces["44"])
	}
	_, err = s.Return("44", "again")
	wantConflict(t, err, "尚未提交")

	sub, err = s.Submit("44", goodForm(t), nil, now.Add(time.Hour))
	apply(t, &s, sub, err)
	if s.Provinces["44"].Status != intent.StatusSubmitted {
		t.Fatal("resubmission not recorded")
	}
}

func TestSubmitRefusesBadInput(t *testing.T) {
	s := openRound(t, "44")
	_, err := s.Submit("44", parseInput(t, `{"lines":[{"item":"4","undertake":true}]}`), nil, opened)
	wantField(t, err, "lines[0].quantity", "须填写承接数量")
	_, err = s.SaveDraft("44", parseInput(t, `{"lines":[{"item":"9"}]}`), nil, opened)
	wantField(t, err, "lines[0].item", "")
	_, err = s.Submit("", goodForm(t), nil, opened)
	wantField(t, err, "province", "请指定省份")
	_, err = s.Submit("99", goodForm(t), nil, opened)
	wantField(t, err, "province", "省份代码“99”不存在")
	_, err = s.Submit("11", goodForm(t), nil, opened)
	wantField(t, err, "province", "北京市不在本轮")
}

func TestDeadlineAndExtension(t *testing.T) {
	s := openRound(t, "44", "11", "65")
	before := deadline.Add(-time.Minute)
	after := deadline.Add(time.Minute)

	_, err := s.Extend("44", deadline, opened)
	wantField(t, err, "deadline", "须晚于本轮截止时间（2022-06-15 00:00）")
	_, err = s.Extend("44", time.Time{}, opened)
	wantField(t, err, "deadline", "请填写延期截止时间")
	_, err = s.Extend("44", deadline.Add(time.Hour), deadline.Add(2*time.Hour))
	wantField(t, err, "deadline", "须晚于当前时间")
	_, err = s.Extend("12", deadline.Add(time.Hour), opened)
	wantField(t, err, "province", "天津市不在本轮")
	ext, err := s.Extend("44", deadline.Add(72*time.Hour), before)
	apply(t, &s, ext, err)

	sub, err := s.Submit("65", goodForm(t), nil, before)
	apply(t, &s, sub, err)
	if sub.Late {
		t.Fatal("on-time submission marked late")
	}
	_, err = s.Submit("11", goodForm(t), nil, deadline)
	wantConflict(t, err, "已过截止时间（2022-06-15 00:00），未获延期，不能提交")
	_, err = s.SaveDraft("11", goodForm(t), nil, after)
	wantConflict(t, err, "未获延期，不能保存")

	closed, err := s.Close(after)
	apply(t, &s, closed, err)
	if !slices.Equal(closed.Submitted, []string{"65"}) || !slices.Equal(closed.Missing, []string{"11", "44"}) {
		t.Fatalf("closed %+v", closed)
	}
	_, err = s.Close(after)
	wantConflict(t, err, "已截止")

	_, err = s.File(after)
	wantConflict(t, err, "广东省获准延期至 2022-06-18 00:00，尚未提交")

	d, err := s.SaveDraft("44", goodForm(t), nil, after)
	apply(t, &s, d, err)
	sub, err = s.Submit("44", goodForm(t), nil, after)
	apply(t, &s, sub, err)
	if !sub.Late || !s.Provinces["44"].Late {
		t.Fatal("submission within an extension not marked late")
	}

	// After a return, the extension still bounds the resubmission.
	ret, err := s.Return("44", "请补充经费来源")
	apply(t, &s, ret, err)
	if s.Provinces["44"].Late {
		t.Fatal("a returned form keeps the late mark of a submission it no longer has")
	}
	_, err = s.Submit("44", goodForm(t), nil, deadline.Add(72*time.Hour))
	wantConflict(t, err, "已过延期截止时间（2022-06-18 00:00），不能提交")
}

func TestCloseFileFeedback(t *testing.T) {
	s := openRound(t, "44", "11")
	_, err := s.Close(deadline.Add(-time.Second))
	wantConflict(t, err, "截止时间（2022-06-15 00:00）未到")
	_, err = s.File(deadline.Add(-time.Second))
	wantConflict(t, err, "尚有 2 个省份未提交（北京市、广东省）")
	_, err = s.Feedback("44", "同意备案")
	wantConflict(t, err, "汇总备案后方可反馈")

	closed, err := s.Close(deadline)
	apply(t, &s, closed, err)
	if len(closed.Submitted) != 0 || len(closed.Missing) != 2 {
		t.Fatalf("closed %+v", closed)
	}
	filed, err := s.File(deadline.Add(time.Hour))
	apply(t, &s, filed, err)
	_, err = s.File(deadline.Add(time.Hour))
	wantConflict(t, err, "已汇总备案")

	_, err = s.Feedback("44", " ")
	wantField(t, err, "text", "请填写反馈意见")
	_, err = s.Feedback("99", "x")
	wantField(t, err, "province", "")
	fb, err := s.Feedback("44", "同意备案，请按备案结果开展工作")
	apply(t, &s, fb, err)
	if s.Provinces["44"].Feedbacks != 1 {
		t.Fatal("feedback not counted")
	}

	later := deadline.Add(48 * time.Hour)
	_, err = s.Submit("11", goodForm(t), nil, later)
	wantConflict(t, err, "已汇总备案，不能再提交")
	_, err = s.Extend("11", later.Add(time.Hour), later)
	wantConflict(t, err, "不能再延期")
	if len(s.Reminders(time.Hour)) != 0 {
		t.Fatal("reminders due in a filed round")
	}
}

func TestReminders(t *testing.T) {
	s := openRound(t, "44", "11", "65")
	d, err := s.SaveDraft("11", goodForm(t), nil, opened)
	apply(t, &s, d, err)
	sub, err := s.Submit("44", goodForm(t), nil, opened)
	apply(t, &s, sub, err)
	got := s.Reminders(24 * time.Hour)
	if len(got) != 2 || got[0].Province != "11" || got[1].Province != "65" || got[0].Offset != 24*time.Hour {
		t.Fatalf("reminders %+v, want 11 and 65", got)
	}
}

// Random sequences of commands at random times: whatever is accepted keeps the
// round's rules.
func TestPropertyRoundRules(t *testing.T) {
	provinces := []string{"11", "44", "65"}
	rapid.Check(t, func(t *rapid.T) {
		s := openRound(t, provinces...)
		now := opened
		ever := map[string]bool{} // submitted at least once
		for step := range rapid.IntRange(1, 40).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.Int64Range(0, int64(10*24*time.Hour)).Draw(t, "wait")))
			p := rapid.SampledFrom(provinces).Draw(t, "province")
			before := s
			var e any
			var err error
			switch rapid.IntRange(0, 6).Draw(t, "command") {
			case 0:
				e, err = s.SaveDraft(p, goodForm(t), nil, now)
			case 1:
				var sub intent.IntentSubmitted
				sub, err = s.Submit(p, goodForm(t), nil, now)
				if err == nil {
					ps := s.Provinces[p]
					lateOK := now.Before(deadline) || (ps.Extension != nil && now.Before(*ps.Extension))
					if !lateOK || ps.Status == intent.StatusSubmitted || s.Stage == intent.StageFiled || sub.Late != !now.Before(deadline) {
						t.Fatalf("step %d: submit accepted against the rules: %+v at %s, state %+v", step, sub, now, ps)
					}
					ever[p] = true
				}
				e = sub
			case 2:
				e, err = s.Return(p, "退回修改")
			case 3:
				e, err = s.Extend(p, now.Add(time.Duration(rapid.Int64Range(1, int64(20*24*time.Hour)).Draw(t, "extension"))), now)
			case 4:
				e, err = s.Close(now)
			case 5:
				e, err = s.File(now)
			case 6:
				e, err = s.Feedback(p, "反馈")
			}
			if err != nil {
				var fe *domain.FieldError
				var ce *domain.ConflictError
				if !errors.As(err, &fe) && !errors.As(err, &ce) {
					t.Fatalf("step %d: err %#v is neither a field error nor a conflict", step, err)
				}
				continue
			}
			if before.Stage == intent.StageFiled {
				if _, ok := e.(intent.IntentFeedbackRecorded); !ok {
					t.Fatalf("step %d: %T accepted after filing", step, e)
				}
			}
			if c, ok := e.(intent.IntentRoundClosed); ok {
				all := append(slices.Clone(c.Submitted), c.Missing...)
				slices.Sort(all)
				if !slices.Equal(all, provinces) || now.Before(deadline) {
					t.Fatalf("step %d: close %+v at %s", step, c, now)
				}
			}
			if err := s.Apply(e); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			for _, p := range provinces {
				if st := s.Provinces[p].Status; st == intent.StatusReturned && !ever[p] {
					t.Fatalf("step %d: %s returned without ever submitting", step, p)
				}
			}
		}
	})
}

// Once every province has submitted, the ministry may file before the
// deadline; the event says so, and nothing can be saved afterwards.
func TestFileEarlyOnceEveryProvinceSubmitted(t *testing.T) {
	s := openRound(t, "44", "11")
	sub, err := s.Submit("44", goodForm(t), nil, opened)
	apply(t, &s, sub, err)
	_, err = s.File(opened)
	wantConflict(t, err, "尚有 1 个省份未提交（北京市）")
	sub, err = s.Submit("11", goodForm(t), nil, opened)
	apply(t, &s, sub, err)
	filed, err := s.File(opened.Add(time.Hour))
	apply(t, &s, filed, err)
	if !filed.Early || s.Stage != intent.StageFiled {
		t.Fatalf("filed %+v, stage %s; want an early filing", filed, s.Stage)
	}
	_, err = s.SaveDraft("44", goodForm(t), nil, opened.Add(2*time.Hour))
	wantConflict(t, err, "已汇总备案")
	if len(s.Reminders(24*time.Hour)) != 0 {
		t.Fatal("reminders due in a round filed early")
	}
	if _, err := s.Close(deadline); err == nil {
		t.Fatal("a round filed early closed at its deadline")
	}
}

var register = map[string]intent.School{
	"G001": {Code: "G001", Name: "广州市技师学院", Province: "44"},
	"G002": {Code: "G002", Name: "广东省高级技工学校", Province: "44"},
	"B001": {Code: "B001", Name: "北京市工业技师学院", Province: "11"},
}

// 实施单位 are the province's own registered schools, named from the register.
func TestUnitsFromTheRegister(t *testing.T) {
	s := openRound(t, "44")
	in := parseInput(t, `{"lines":[{"item":"4","undertake":true,"quantity":2,"units":["G001"]},
		{"item":"2.1","undertake":true,"quantity":2,"units":[" G002 ","G001"]}]}`)
	d, err := s.SaveDraft("44", in, register, opened)
	if err != nil {
		t.Fatal(err)
	}
	var got []intent.Unit
	for _, l := range d.Form.Lines {
		if l.Item == "2.1" {
			got = l.Units
		}
	}
	want := []intent.Unit{{Code: "G002", Name: "广东省高级技工学校"}, {Code: "G001", Name: "广州市技师学院"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("units of 2.1 = %+v, want %+v", got, want)
	}
	cases := []struct{ name, body, field, msg string }{
		{"OtherProvince", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["G001","B001"]}]}`,
			"lines[0].units[1]", "实施单位“北京市工业技师学院”属于北京市，只能选择广东省的学校"},
		{"NotRegistered", `{"lines":[{"item":"1","undertake":false},{"item":"2.1","undertake":true,"quantity":1,"units":["X9"]}]}`,
			"lines[1].units[0]", "不在学校名录中"},
		{"Repeated", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["G001","G001"]}]}`,
			"lines[0].units[1]", "与第1个重复"},
		{"NotUndertaken", `{"lines":[{"item":"2.1","undertake":false,"units":["G001"]}]}`,
			"lines[0].units", "未承接的任务（项目）不能填写实施单位"},
		{"NotAList", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":"G001"}]}`,
			"lines[0].units", "学校代码的列表"},
		{"NotAString", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":[7]}]}`,
			"lines[0].units[0]", "须为学校代码"},
		{"Blank", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":[" "]}]}`,
			"lines[0].units[0]", "未填写学校代码"},
		{"Malformed", `{"lines":[{"item":"2.1","undertake":true,"quantity":1,"units":["a b"]}]}`,
			"lines[0].units[0]", "格式不对"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Submit("44", parseInput(t, c.body), register, opened)
			wantField(t, err, c.field, c.msg)
		})
	}
	// Without the register's answer no school can be named.
	_, err = s.Submit("44", in, nil, opened)
	wantField(t, err, "lines[1].units[0]", "不在学校名录中")
	if codes := intent.UnitCodes(in); !reflect.DeepEqual(codes, []string{"G001", "G002"}) {
		t.Fatalf("UnitCodes = %v", codes)
	}
}

// A province records its 厅函 once its form is submitted; the ministry marks
// it arrived, after which it cannot change.
func TestLetter(t *testing.T) {
	s := openRound(t, "44")
	scan := intent.LetterScan{Name: "厅函.pdf", MediaType: "application/pdf", Size: 1234, SHA256: strings.Repeat("ab", 32)}
	letter := intent.LetterInput{LetterNo: " 粤人社函〔2022〕123号 ", Date: "2022-06-10", Scan: scan}
	at := time.Date(2022, 6, 11, 9, 0, 0, 0, cst)
	_, err := s.RecordLetter("44", letter, at)
	wantConflict(t, err, "提交后方可登记")
	_, err = s.MarkLetterArrived("44")
	wantConflict(t, err, "尚未登记")
	sub, err := s.Submit("44", goodForm(t), nil, at)
	apply(t, &s, sub, err)

	bad := []struct {
		name  string
		edit  func(*intent.LetterInput)
		field string
		msg   string
	}{
		{"NoNumber", func(l *intent.LetterInput) { l.LetterNo = " " }, "letter_no", "请填写厅函文号"},
		{"LongNumber", func(l *intent.LetterInput) { l.LetterNo = strings.Repeat("号", 65) }, "letter_no", "不能超过"},
		{"NoDate", func(l *intent.LetterInput) { l.Date = "" }, "date", "请填写厅函日期"},
		{"BadDate", func(l *intent.LetterInput) { l.Date = "2022-02-30" }, "date", "格式应为"},
		{"SlashDate", func(l *intent.LetterInput) { l.Date = "2022/06/10" }, "date", "格式应为"},
		{"FutureDate", func(l *intent.LetterInput) { l.Date = "2022-06-12" }, "date", "不能晚于今天"},
		{"NoScan", func(l *intent.LetterInput) { l.Scan = intent.LetterScan{} }, "file", "扫描件"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			l := letter
			c.edit(&l)
			_, err := s.RecordLetter("44", l, at)
			wantField(t, err, c.field, c.msg)
		})
	}
	rec, err := s.RecordLetter("44", letter, at)
	apply(t, &s, rec, err)
	if rec.LetterNo != "粤人社函〔2022〕123号" || rec.Scan != scan || s.Provinces["44"].Letter == nil {
		t.Fatalf("recorded %+v, state %+v", rec, s.Provinces["44"])
	}
	arr, err := s.MarkLetterArrived("44")
	apply(t, &s, arr, err)
	if arr.LetterNo != rec.LetterNo || !s.Provinces["44"].Letter.Arrived {
		t.Fatalf("arrived %+v, state %+v", arr, s.Provinces["44"].Letter)
	}
	_, err = s.MarkLetterArrived("44")
	wantConflict(t, err, "已登记收到")
	_, err = s.RecordLetter("44", letter, at)
	wantConflict(t, err, "不能更改")
}

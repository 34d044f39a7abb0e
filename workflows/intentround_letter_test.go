package workflows_test

import (
	"strings"
	"testing"
	"time"

	"keytask/domain/intent"
	"keytask/workflows"
)

// Every province submits, naming its 实施单位 from the register, and records
// its 厅函; the ministry marks one arrived and files the round before its
// deadline. The round then takes no form and sends no reminder, and ends after
// its feedback period; nothing refused was recorded.
func TestIntentRoundLettersUnitsAndEarlyFiling(t *testing.T) {
	rt := newRoundTest(t, nil)
	h := time.Hour
	at := opened
	next := func() time.Time { at = at.Add(h); return at }
	schools := map[string]intent.School{
		"G001": {Code: "G001", Name: "广州市技师学院", Province: "44"},
		"B001": {Code: "B001", Name: "北京市工业技师学院", Province: "11"},
	}
	withUnits := func(province, units string) workflows.FormCommand {
		c := formCmd(province, `{"lines":[{"item":"2.1","undertake":true,"quantity":2,"units":`+units+`,"funds":{"school":"1"}},
			{"item":"4","undertake":true,"quantity":1,"units":`+units+`}]}`)
		c.Schools = schools
		return c
	}
	letter := intent.LetterInput{LetterNo: "粤人社函〔2022〕88号", Date: "2022-04-24",
		Scan: intent.LetterScan{Name: "厅函.pdf", MediaType: "application/pdf", Size: 2048, SHA256: strings.Repeat("0f", 32)}}

	wrongSchool := rt.update(next(), workflows.UpdateSubmitIntent, withUnits("44", `["B001"]`))
	unknownSchool := rt.update(next(), workflows.UpdateSubmitIntent, withUnits("44", `["Z999"]`))
	early := rt.update(next(), workflows.UpdateFileIntentRound, workflows.FileCommand{})
	letterBefore := rt.update(next(), workflows.UpdateRecordLetter, workflows.LetterCommand{Province: "44", Letter: letter})
	arrivedBefore := rt.update(next(), workflows.UpdateLetterArrived, workflows.ArrivalCommand{Province: "44", Actor: ministry})
	sub44 := rt.update(next(), workflows.UpdateSubmitIntent, withUnits("44", `["G001"]`))
	sub11 := rt.update(next(), workflows.UpdateSubmitIntent, withUnits("11", `["B001"]`))
	badLetter := rt.update(next(), workflows.UpdateRecordLetter, workflows.LetterCommand{Province: "44", Letter: intent.LetterInput{Date: "2022-04-24", Scan: letter.Scan}})
	rec44 := rt.update(next(), workflows.UpdateRecordLetter, workflows.LetterCommand{Province: "44", Letter: letter})
	arr44 := rt.update(next(), workflows.UpdateLetterArrived, workflows.ArrivalCommand{Province: "44", Actor: ministry})
	arrAgain := rt.update(next(), workflows.UpdateLetterArrived, workflows.ArrivalCommand{Province: "44", Actor: ministry})
	notAll := rt.update(next(), workflows.UpdateFileIntentRound, workflows.FileCommand{})
	sub65 := rt.update(next(), workflows.UpdateSubmitIntent, formCmd("65", goodForm))
	st := rt.query(next())
	file := rt.update(next(), workflows.UpdateFileIntentRound, workflows.FileCommand{Actor: ministry})
	after := rt.update(next(), workflows.UpdateSaveIntentDraft, formCmd("65", goodForm))
	rt.run()
	if err := rt.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	wrongSchool.refused(t, false, "lines[0].units[0]", "属于北京市，只能选择广东省的学校")
	unknownSchool.refused(t, false, "lines[0].units[0]", "不在学校名录中")
	early.refused(t, true, "", "尚有 3 个省份未提交")
	letterBefore.refused(t, true, "", "提交后方可登记")
	arrivedBefore.refused(t, true, "", "尚未登记")
	badLetter.refused(t, false, "letter_no", "请填写厅函文号")
	arrAgain.refused(t, true, "", "已登记收到")
	notAll.refused(t, true, "", "尚有 1 个省份未提交（新疆维吾尔自治区）")
	after.refused(t, true, "", "已汇总备案")
	for _, o := range []*outcome{sub44, sub11, rec44, arr44, sub65, file} {
		o.ok(t)
	}
	if got := sub44.form(t).Form.Lines[1].Units; len(got) != 1 || got[0] != (intent.Unit{Code: "G001", Name: "广州市技师学院"}) {
		t.Errorf("units of 2.1 = %+v, want the register's name", got)
	}
	if l := st.Provinces["44"].Letter; l == nil || l.No != letter.LetterNo || !l.Arrived {
		t.Errorf("status of 44's letter = %+v", l)
	}

	round := rt.stream(intent.RoundStream("2022-1"))
	// No reminder, no closing: filed before the first reminder was due.
	wantTypes(t, "round", round, intent.TypeIntentRoundOpened, intent.TypeIntentRoundFiled)
	if early, _ := round[1].data["early"].(bool); !early {
		t.Errorf("filing %v does not say it was early", round[1].data)
	}
	wantTypes(t, "44", rt.stream(intent.FormStream("2022-1", "44")),
		intent.TypeIntentSubmitted, intent.TypeIntentLetterRecorded, intent.TypeIntentLetterArrived)
	wantTypes(t, "11", rt.stream(intent.FormStream("2022-1", "11")), intent.TypeIntentSubmitted)
}

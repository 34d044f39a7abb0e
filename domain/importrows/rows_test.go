package importrows_test

import (
	"testing"

	"keytask/domain/identity"
	"keytask/domain/importrows"
	"keytask/domain/register"
)

func TestSchoolFromRow(t *testing.T) {
	got, err := importrows.SchoolFromRow(importrows.Cells{"code": "SCH-11-001", "name": "北京市工贸技师学院", "province": "北京市", "kind": "技师学院"})
	if err != nil || got != (register.School{Code: "SCH-11-001", Name: "北京市工贸技师学院", Province: "11", Kind: register.KindTechnicianCollege}) {
		t.Fatalf("got %+v, %v: a province's name reads as its code", got, err)
	}
	_, err = importrows.SchoolFromRow(importrows.Cells{"code": "SCH-11-001", "name": "某校", "province": "11", "kind": "中专"})
	bad, err := importrows.RowErrorOf(importrows.SheetSchools, 7, err)
	if err != nil || bad.Row != 7 || bad.Column != "院校类别" || bad.Reason == "" {
		t.Fatalf("row error %+v, %v", bad, err)
	}
}

func TestExpertFromRow(t *testing.T) {
	row := importrows.Cells{"expert_id": "zhang", "name": "张三", "province": "11", "load": "20.0", "expertise.YZYX": "3", "expertise.JPKC": "",
		"conflict_schools": "SCH-11-002；SCH-11-001、SCH-11-002"}
	got, err := importrows.ExpertFromRow(row)
	if err != nil {
		t.Fatal(err)
	}
	if got.Load != 20 || got.Expertise["YZYX"] != 3 || len(got.Expertise) != 1 || len(got.ConflictSchools) != 2 {
		t.Fatalf("got %+v", got)
	}
	for _, c := range []struct {
		name, field, value, column string
	}{
		{"ErrLoadFraction", "load", "2.5", "评审工作量上限"},
		{"ErrLoadText", "load", "二十", "评审工作量上限"},
		{"ErrLevel", "expertise.YZYX", "4", "专业水平-YZYX"},
		{"ErrLevelText", "expertise.YZYX", "高", "专业水平-YZYX"},
		{"ErrNoExpertise", "expertise.YZYX", "0", "专业水平-JPKC"},
		{"ErrName", "name", "", "姓名"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := importrows.Cells{}
			for k, v := range row {
				r[k] = v
			}
			r[c.field] = c.value
			_, err := importrows.ExpertFromRow(r)
			bad, err := importrows.RowErrorOf(importrows.SheetExperts, 3, err)
			if err != nil || bad.Column != c.column || bad.Reason == "" {
				t.Fatalf("row error %+v, %v", bad, err)
			}
		})
	}
}

func TestUserFromRow(t *testing.T) {
	got, err := importrows.UserFromRow(importrows.Cells{"user_id": "bj", "name": "北京市人社局", "role": "省级人社厅", "organisation": "北京市"})
	if err != nil || got.Role != identity.RoleProvince || got.Organisation != "11" {
		t.Fatalf("got %+v, %v", got, err)
	}
	_, err = importrows.UserFromRow(importrows.Cells{"user_id": "s1", "name": "某校", "role": "校长", "organisation": "SCH-1"})
	bad, err := importrows.RowErrorOf(importrows.SheetUsers, 2, err)
	if err != nil || bad.Column != "角色" {
		t.Fatalf("row error %+v, %v", bad, err)
	}
}

func TestColumnsNameEveryField(t *testing.T) {
	for _, s := range importrows.Sheets {
		if importrows.Header(s, importrows.KeyField(s)) == "" || s.Title() == "" {
			t.Errorf("%s: no key column or title", s)
		}
		seen := map[string]bool{}
		for _, c := range importrows.Columns(s) {
			if seen[c.Header] || c.Header == "" || c.Field == "" {
				t.Errorf("%s: column %+v repeated or unnamed", s, c)
			}
			seen[c.Header] = true
		}
	}
}

package intent

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"keytask/domain"
	"keytask/domain/identity"
)

// The notice asks each province to send its printed form to the ministry by
// 厅函 (a stamped letter of its department). The province records the letter
// here — its number, its date and the stamped scan — and the ministry marks it
// arrived once the paper is in hand, so the ministry reads both beside the form.

// LetterScan is the stamped scan of a 厅函, kept in the attachments store.
type LetterScan struct {
	Name      string `json:"name"` // the file's name on the province's computer
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"` // the attachment's address in the store
}

// IntentLetterRecorded: a province recorded the 厅函 that sends its form.
// A later one replaces it until the ministry marks it arrived.
type IntentLetterRecorded struct {
	RoundID  string     `json:"round_id"`
	Province string     `json:"province"`
	LetterNo string     `json:"letter_no"` // e.g. 粤人社函〔2022〕123号
	Date     string     `json:"date"`      // the letter's date, YYYY-MM-DD
	Scan     LetterScan `json:"scan"`
}

// IntentLetterArrived: the ministry marked the province's 厅函 arrived.
type IntentLetterArrived struct {
	RoundID  string `json:"round_id"`
	Province string `json:"province"`
	LetterNo string `json:"letter_no"` // the letter that arrived
}

// LetterState is what the decisions know of a province's 厅函.
type LetterState struct {
	No      string `json:"no"`
	Arrived bool   `json:"arrived,omitempty"`
}

// MaxLetterNoRunes bounds a letter number; real ones are about 15 characters.
const MaxLetterNoRunes = 64

var (
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// LetterInput is a 厅函 as the province sends it.
type LetterInput struct {
	LetterNo string     `json:"letter_no"`
	Date     string     `json:"date"`
	Scan     LetterScan `json:"scan"`
}

// CheckLetter checks a letter's own fields, without the round: the number
// ("letter_no"), the date ("date": a calendar day, not after today in Beijing)
// and the scan ("file"). The API calls it before it stores the scan, so a bad
// letter stores nothing; RecordLetter calls it again.
func CheckLetter(in LetterInput, now time.Time) (LetterInput, error) {
	if err := CheckLetterFields(in, now); err != nil {
		return in, err
	}
	in.LetterNo, in.Date = strings.TrimSpace(in.LetterNo), strings.TrimSpace(in.Date)
	if !hashPattern.MatchString(in.Scan.SHA256) || in.Scan.Size <= 0 {
		return in, domain.Invalid("file", "请上传加盖公章的厅函扫描件", "letter without a scan")
	}
	return in, nil
}

// CheckLetterFields checks a letter's number and date, not its scan: the
// API checks them before it reads the scan.
func CheckLetterFields(in LetterInput, now time.Time) error {
	in.LetterNo = strings.TrimSpace(in.LetterNo)
	in.Date = strings.TrimSpace(in.Date)
	switch {
	case in.LetterNo == "":
		return domain.Invalid("letter_no", "请填写厅函文号", "letter without a number")
	case utf8.RuneCountInString(in.LetterNo) > MaxLetterNoRunes:
		return domain.Invalid("letter_no", fmt.Sprintf("厅函文号不能超过 %d 字", MaxLetterNoRunes), "letter number too long")
	case strings.ContainsFunc(in.LetterNo, func(r rune) bool { return r < ' ' }):
		return domain.Invalid("letter_no", "厅函文号不能含有控制字符", "letter number with control characters")
	case in.Date == "":
		return domain.Invalid("date", "请填写厅函日期", "letter without a date")
	}
	d, err := time.ParseInLocation("2006-01-02", in.Date, shanghai)
	if !datePattern.MatchString(in.Date) || err != nil {
		return domain.Invalid("date", "厅函日期格式应为 2022-06-10", fmt.Sprintf("letter date %q is not YYYY-MM-DD", clip(in.Date)))
	}
	today := now.In(shanghai).Format("2006-01-02")
	if d.Format("2006-01-02") > today {
		return domain.Invalid("date", "厅函日期不能晚于今天", fmt.Sprintf("letter date %s is after today %s", in.Date, today))
	}
	return nil
}

// RecordLetter decides on a province recording the 厅函 that sends its form:
// the form must be submitted, and a letter the ministry has marked arrived can
// no longer be replaced.
func (s RoundState) RecordLetter(province string, in LetterInput, now time.Time) (IntentLetterRecorded, error) {
	ps, err := s.province(province)
	if err != nil {
		return IntentLetterRecorded{}, err
	}
	if in, err = CheckLetter(in, now); err != nil {
		return IntentLetterRecorded{}, err
	}
	if err := mayRecordLetter(province, ps); err != nil {
		return IntentLetterRecorded{}, err
	}
	return IntentLetterRecorded{RoundID: s.RoundID, Province: province, LetterNo: in.LetterNo, Date: in.Date, Scan: in.Scan}, nil
}

// MayRecordLetter tells whether the province may record a 厅函 now, whatever
// the letter: the API asks before it stores a scan the round would refuse.
func (s RoundState) MayRecordLetter(province string) error {
	ps, err := s.province(province)
	if err != nil {
		return err
	}
	return mayRecordLetter(province, ps)
}

func mayRecordLetter(province string, ps ProvinceState) error {
	switch {
	case ps.Status != StatusSubmitted:
		return domain.Conflict("", identity.Provinces[province]+"的承接意向表提交后方可登记报送的厅函",
			fmt.Sprintf("letter refused: %s is %s, not submitted", province, ps.Status))
	case ps.Letter != nil && ps.Letter.Arrived:
		return domain.Conflict("", fmt.Sprintf("厅函（%s）已由部登记收到，不能更改", ps.Letter.No),
			fmt.Sprintf("letter refused: %s's letter %s has arrived", province, ps.Letter.No))
	}
	return nil
}

// MarkLetterArrived decides on the ministry marking a province's 厅函 arrived.
func (s RoundState) MarkLetterArrived(province string) (IntentLetterArrived, error) {
	ps, err := s.province(province)
	if err != nil {
		return IntentLetterArrived{}, err
	}
	name := identity.Provinces[province]
	switch {
	case ps.Letter == nil:
		return IntentLetterArrived{}, domain.Conflict("", name+"尚未登记报送的厅函，不能登记收到",
			fmt.Sprintf("arrival refused: %s has recorded no letter", province))
	case ps.Letter.Arrived:
		return IntentLetterArrived{}, domain.Conflict("", fmt.Sprintf("%s的厅函（%s）已登记收到", name, ps.Letter.No),
			fmt.Sprintf("arrival refused: %s's letter %s has arrived already", province, ps.Letter.No))
	}
	return IntentLetterArrived{RoundID: s.RoundID, Province: province, LetterNo: ps.Letter.No}, nil
}

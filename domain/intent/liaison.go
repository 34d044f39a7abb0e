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

// LiaisonDeadlineStream is the stream of the ministry's liaison deadlines. One
// stream for the whole country: the notice sets a single date for every province.
const LiaisonDeadlineStream = "liaison-deadline"

// Limits of a liaison's details.
const (
	MaxLiaisonNameRunes = 50
	MaxEmailLength      = 254 // RFC 5321's limit on a forward path
)

var (
	// A mainland mobile number: 11 digits starting 13–19.
	mobilePattern = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	// A landline with its area code, as the notice writes 010-84208450, and an
	// optional extension (010-84208450-123).
	landlinePattern = regexp.MustCompile(`^0[0-9]{2,3}-[0-9]{7,8}(-[0-9]{1,6})?$`)
	// Deliberately plainer than RFC 5322: an address a province types into a
	// form, which staff then write to, not every form a mail header allows.
	emailPattern = regexp.MustCompile(`^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
)

// SetLiaisonDeadline decides on the ministry setting the date by which every
// province registers its liaison. A later decision replaces the earlier deadline.
// Errors: *domain.FieldError for "deadline".
func SetLiaisonDeadline(cmd LiaisonDeadlineSet, now time.Time) (LiaisonDeadlineSet, error) {
	switch {
	case cmd.Deadline.IsZero():
		return LiaisonDeadlineSet{}, domain.Invalid("deadline", "请填写联络员报送截止时间", "deadline is required")
	case !cmd.Deadline.After(now):
		return LiaisonDeadlineSet{}, domain.Invalid("deadline", "联络员报送截止时间须晚于当前时间",
			fmt.Sprintf("deadline %s is not after now %s", cmd.Deadline, now))
	}
	return cmd, nil
}

// RegisterLiaison decides on a province registering its liaison (联络员). A later
// registration replaces the earlier one, so there is no state to consult; a
// registration after the liaison deadline is still accepted (a late liaison is
// better than none) and read models flag it. It returns the event to record with
// the details normalised: white space trimmed, spaces inside the phone number
// removed. Errors: *domain.FieldError for "province", "name", "phone" or "email".
func RegisterLiaison(cmd LiaisonRegistered) (LiaisonRegistered, error) {
	cmd = LiaisonRegistered{
		Province: strings.TrimSpace(cmd.Province),
		Name:     strings.TrimSpace(cmd.Name),
		Phone:    strings.ReplaceAll(strings.TrimSpace(cmd.Phone), " ", ""),
		Email:    strings.TrimSpace(cmd.Email),
	}
	if err := ValidateProvince(cmd.Province); err != nil {
		return LiaisonRegistered{}, err
	}
	switch {
	case cmd.Name == "":
		return LiaisonRegistered{}, domain.Invalid("name", "请填写联络员姓名", "name is required")
	case utf8.RuneCountInString(cmd.Name) > MaxLiaisonNameRunes:
		return LiaisonRegistered{}, domain.Invalid("name", fmt.Sprintf("联络员姓名不能超过%d个字", MaxLiaisonNameRunes),
			fmt.Sprintf("name longer than %d characters", MaxLiaisonNameRunes))
	case cmd.Phone == "":
		return LiaisonRegistered{}, domain.Invalid("phone", "请填写联系电话", "phone is required")
	case !mobilePattern.MatchString(cmd.Phone) && !landlinePattern.MatchString(cmd.Phone):
		return LiaisonRegistered{}, domain.Invalid("phone",
			"联系电话应为11位手机号（如 13812345678）或带区号的固定电话（如 010-84208450，分机可写作 010-84208450-123）",
			fmt.Sprintf("phone %q is neither a mobile nor a landline number", shorten(cmd.Phone)))
	case cmd.Email == "":
		return LiaisonRegistered{}, domain.Invalid("email", "请填写电子邮箱", "email is required")
	case len(cmd.Email) > MaxEmailLength || !emailPattern.MatchString(cmd.Email):
		return LiaisonRegistered{}, domain.Invalid("email", "电子邮箱格式不正确，应如 name@example.gov.cn",
			fmt.Sprintf("email %q is malformed", shorten(cmd.Email)))
	}
	return cmd, nil
}

// ValidateProvince returns a *domain.FieldError for field "province" unless code
// is one of identity.Provinces.
func ValidateProvince(code string) error {
	switch _, ok := identity.Provinces[code]; {
	case code == "":
		return domain.Invalid("province", "请指定省份", "province is required")
	case !ok:
		return domain.Invalid("province", fmt.Sprintf("省份代码“%s”不存在，应为两位省级行政区划代码，如 11（北京市）", shorten(code)),
			fmt.Sprintf("unknown province code %q", shorten(code)))
	}
	return nil
}

package scoring

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Points is an exact, non-negative number of points, kept as a fraction in
// lowest terms: a mean of three experts' totals is often a third, and a rounded
// figure would let rounding decide a ranking. The zero value is 0.
type Points struct {
	num, den int64 // den == 0 stands for 1, so the zero value is 0
}

func newPoints(num, den int64) Points {
	g := gcd(num, den)
	return Points{num / g, den / g}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	if a == 0 {
		return 1
	}
	return a
}

// Num returns the numerator in lowest terms.
func (p Points) Num() int64 { return p.num }

// Den returns the denominator in lowest terms, at least 1.
func (p Points) Den() int64 {
	if p.den == 0 {
		return 1
	}
	return p.den
}

// Cmp returns -1, 0 or +1 as p is less than, equal to or greater than q. It
// compares the cross products in 128 bits, so it never overflows.
func (p Points) Cmp(q Points) int {
	ah, al := bits.Mul64(uint64(p.num), uint64(q.Den()))
	bh, bl := bits.Mul64(uint64(q.num), uint64(p.Den()))
	switch {
	case ah < bh || (ah == bh && al < bl):
		return -1
	case ah > bh || (ah == bh && al > bl):
		return 1
	}
	return 0
}

// Hundredths returns p in hundredths of a point, rounded half up: the figure
// shown to people. Rankings never use it.
func (p Points) Hundredths() int64 {
	d := p.Den()
	return (p.num*200 + d) / (2 * d)
}

// String returns p with two decimals, rounded half up, such as "87.33".
func (p Points) String() string {
	h := p.Hundredths()
	return fmt.Sprintf("%d.%02d", h/100, h%100)
}

// Exact returns p as a fraction in lowest terms, such as "262/3", or as a whole
// number, such as "87".
func (p Points) Exact() string {
	if p.Den() == 1 {
		return strconv.FormatInt(p.num, 10)
	}
	return fmt.Sprintf("%d/%d", p.num, p.den)
}

// MarshalText writes p exactly (see Exact), so stored results keep no floats.
func (p Points) MarshalText() ([]byte, error) { return []byte(p.Exact()), nil }

// maxText bounds a stored fraction's terms, far above anything a ranking
// computes, so that Hundredths cannot overflow.
const maxText = 1_000_000_000_000_000

// UnmarshalText reads what MarshalText writes.
func (p *Points) UnmarshalText(b []byte) error {
	ns, ds, frac := strings.Cut(string(b), "/")
	num, err := strconv.ParseInt(ns, 10, 64)
	den := int64(1)
	if err == nil && frac {
		den, err = strconv.ParseInt(ds, 10, 64)
	}
	if err != nil || num < 0 || den < 1 || num > maxText || den > maxText {
		return fmt.Errorf("points %q: want a non-negative fraction like 262/3", b)
	}
	*p = newPoints(num, den)
	return nil
}

// shown formats two values for a sentence that compares them: with two decimals,
// and exactly as well when two decimals would make different values look equal.
func shown(a, b Points) (string, string) {
	if a.Hundredths() == b.Hundredths() && a.Cmp(b) != 0 {
		return fmt.Sprintf("%s（精确值 %s）", a, a.Exact()), fmt.Sprintf("%s（精确值 %s）", b, b.Exact())
	}
	return a.String(), b.String()
}

// shownEn is shown for the English detail.
func shownEn(a, b Points) (string, string) {
	if a.Hundredths() == b.Hundredths() && a.Cmp(b) != 0 {
		return fmt.Sprintf("%s (exactly %s)", a, a.Exact()), fmt.Sprintf("%s (exactly %s)", b, b.Exact())
	}
	return a.String(), b.String()
}

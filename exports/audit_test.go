package exports

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// Excel refuses cells over 32,767 UTF-16 units: a long event is cut, and says so.
func TestCellTextFitsExcel(t *testing.T) {
	short := `{"a":"短"}`
	if cellText(short) != short {
		t.Errorf("a short text changed: %q", cellText(short))
	}
	long := strings.Repeat("排", 20_000) + strings.Repeat("𠀋", 20_000)
	got := cellText(long)
	if n := len(utf16.Encode([]rune(got))); n > 32_767 || !strings.HasSuffix(got, TruncatedNote) {
		t.Errorf("cut text has %d units; ends with the note: %v", n, strings.HasSuffix(got, TruncatedNote))
	}
}

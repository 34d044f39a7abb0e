package performance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// IndicatorKind is how an indicator's value is read.
type IndicatorKind string

const (
	KindCount   IndicatorKind = "count"   // a non-negative integer up to Max
	KindPercent IndicatorKind = "percent" // an integer from 0 to 100
)

// Indicator is one line of a task type's performance indicators.
type Indicator struct {
	Key      string        `json:"key"`   // JSON name under "indicators"
	Label    string        `json:"label"` // for users
	Unit     string        `json:"unit"`
	Kind     IndicatorKind `json:"kind"`
	Required bool          `json:"required"` // needed to submit; a draft may lack it
	Max      int64         `json:"max,omitempty"`
}

// TaskIndicators are the indicators one task type reports on.
type TaskIndicators struct {
	Name       string      `json:"name"`
	Indicators []Indicator `json:"indicators"`
}

// Catalogue is the indicator catalogue: per task type, what a performance
// report measures besides money.
type Catalogue struct {
	Version   int                       `json:"version"`
	TaskTypes map[string]TaskIndicators `json:"task_types"`
}

// catalogueJSON is kept as data so that the ministry's indicators change by
// editing a file, not code.
//
//go:embed catalogue.json
var catalogueJSON []byte

// Indicators is the embedded catalogue, checked when the package loads.
var Indicators = mustCatalogue(catalogueJSON)

func mustCatalogue(b []byte) Catalogue {
	c, err := ParseCatalogue(b)
	if err != nil {
		panic("performance: embedded catalogue: " + err.Error())
	}
	return c
}

var (
	taskTypeForm  = regexp.MustCompile(`^[A-Z]{2,8}$`)
	indicatorForm = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
)

// maxCount bounds a count indicator whose Max is left 0, far below int64 so a
// national sum cannot overflow.
const maxCount = 1_000_000_000

// ParseCatalogue reads and checks a catalogue: known fields only, task type
// codes in capitals, indicator keys unique per task type in snake case, a
// label and unit for each, a known kind and a sensible bound.
func ParseCatalogue(b []byte) (Catalogue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Catalogue
	if err := dec.Decode(&c); err != nil {
		return Catalogue{}, fmt.Errorf("decode: %w", err)
	}
	if c.Version < 1 {
		return Catalogue{}, fmt.Errorf("version %d: must be 1 or more", c.Version)
	}
	if len(c.TaskTypes) == 0 {
		return Catalogue{}, fmt.Errorf("no task types")
	}
	for code, tt := range c.TaskTypes {
		if !taskTypeForm.MatchString(code) {
			return Catalogue{}, fmt.Errorf("task type %q: code must be 2 to 8 capital letters", code)
		}
		if strings.TrimSpace(tt.Name) == "" {
			return Catalogue{}, fmt.Errorf("task type %s: no name", code)
		}
		if len(tt.Indicators) == 0 {
			return Catalogue{}, fmt.Errorf("task type %s: no indicators", code)
		}
		seen := map[string]bool{}
		for i, in := range tt.Indicators {
			at := fmt.Sprintf("task type %s indicator %d (%s)", code, i, in.Key)
			switch {
			case !indicatorForm.MatchString(in.Key):
				return Catalogue{}, fmt.Errorf("%s: key must be snake case", at)
			case seen[in.Key]:
				return Catalogue{}, fmt.Errorf("%s: key repeated", at)
			case strings.TrimSpace(in.Label) == "" || strings.TrimSpace(in.Unit) == "":
				return Catalogue{}, fmt.Errorf("%s: label and unit are required", at)
			case in.Kind != KindCount && in.Kind != KindPercent:
				return Catalogue{}, fmt.Errorf("%s: unknown kind %q", at, in.Kind)
			case in.Max < 0 || in.Max > maxCount:
				return Catalogue{}, fmt.Errorf("%s: max %d outside 0..%d", at, in.Max, maxCount)
			case in.Kind == KindPercent && in.Max != 0 && in.Max != 100:
				return Catalogue{}, fmt.Errorf("%s: a percent is bounded by 100", at)
			}
			seen[in.Key] = true
		}
	}
	return c, nil
}

// For returns the indicators of a task type.
func (c Catalogue) For(taskType string) (TaskIndicators, bool) {
	t, ok := c.TaskTypes[taskType]
	return t, ok
}

// Codes lists the task types in order.
func (c Catalogue) Codes() []string {
	out := make([]string, 0, len(c.TaskTypes))
	for k := range c.TaskTypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (in Indicator) max() int64 {
	switch {
	case in.Kind == KindPercent:
		return 100
	case in.Max > 0:
		return in.Max
	}
	return maxCount
}

func (t TaskIndicators) indicator(key string) (Indicator, bool) {
	for _, in := range t.Indicators {
		if in.Key == key {
			return in, true
		}
	}
	return Indicator{}, false
}

package workflows

import (
	"fmt"
	"time"

	"keytask/domain/calendar"

	"go.temporal.io/sdk/workflow"
)

// Clock is how the selection batch reads the time and waits for a deadline.
// Every decision of the batch that depends on the time (a deadline passing, a
// correction window, the working days of the public notice) reads it here, so
// one clock governs them all. It must be a pure function of workflow time to
// keep the workflow replay-safe.
type Clock interface {
	// Now is the batch's present moment.
	Now(ctx workflow.Context) time.Time
	// AwaitWithTimeout waits until cond holds or d of this clock's time has
	// passed, and reports whether cond held (as workflow.AwaitWithTimeout).
	AwaitWithTimeout(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error)
}

// WorkflowClock is workflow time itself: what production runs on.
type WorkflowClock struct{}

func (WorkflowClock) Now(ctx workflow.Context) time.Time { return workflow.Now(ctx) }

func (WorkflowClock) AwaitWithTimeout(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	return workflow.AwaitWithTimeout(ctx, d, cond)
}

// DilatedClock runs Factor times faster than workflow time: at workflow time
// t it reads Origin + (t − Start) × Factor, and a wait of d takes d / Factor of
// workflow time (rounded up, so the deadline has passed when the wait ends).
// A real Temporal server cannot skip time; this lets a test against one see a
// public notice of working days end within seconds.
//
// Start is the workflow (wall) time at which the clock reads Origin; zero
// means Origin itself. Setting Origin apart from Start lets the batch's time
// run in a period the holiday calendar covers whatever today's date is, so a
// demo or test near the end of the last covered year still counts its notices.
// The batch's times then differ from the wall clock; whatever compares them
// with a present moment outside the workflow must use At (see api.Config's
// BatchTime).
//
// It is deterministic for a given Start, Origin and Factor, so every worker
// that may replay a batch must be given the same ones.
type DilatedClock struct {
	Origin time.Time
	Start  time.Time // zero: Origin
	Factor int64     // at least 1
}

func (c DilatedClock) factor() time.Duration { return time.Duration(max(c.Factor, 1)) }

// At is the clock's reading at workflow (wall) time t.
func (c DilatedClock) At(t time.Time) time.Time {
	start := c.Start
	if start.IsZero() {
		start = c.Origin
	}
	return c.Origin.Add(t.Sub(start) * c.factor())
}

func (c DilatedClock) Now(ctx workflow.Context) time.Time { return c.At(workflow.Now(ctx)) }

func (c DilatedClock) AwaitWithTimeout(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	f := c.factor()
	return workflow.AwaitWithTimeout(ctx, (d+f-1)/f, cond)
}

// CoveredDilatedClock chooses a DilatedClock started at wall time now, as fast
// as fastest, for batches whose public notices start within reach (wall time)
// of now: a notice needs working days from cal, so it must start at least nine
// days before the last day cal covers.
//
// When now leaves no such room at full speed (late in the last covered year,
// or in a year cal does not cover yet), the clock reads instead the same date
// and time a whole number of years earlier (the fewest that fit) at now, so a
// demo or test runs as fast whatever today's date and its batches live in a
// covered year. Only when no covered year has room at full speed does the
// clock slow down, from the first covered year's start.
func CoveredDilatedClock(cal *calendar.Calendar, now time.Time, reach time.Duration, fastest int64) (DilatedClock, error) {
	if cal == nil {
		cal = calendar.Default()
	}
	if reach <= 0 || fastest < 1 {
		return DilatedClock{}, fmt.Errorf("dilated clock: reach %s and factor %d must be positive", reach, fastest)
	}
	first, last := cal.Coverage()
	// Five working days take at most seven calendar days around the new year
	// (the calendar lists the holidays); nine keep a margin.
	latest := time.Date(last, 12, 31, 0, 0, 0, 0, calendar.Shanghai).Add(-9 * 24 * time.Hour)
	for k := 0; ; k++ {
		origin := now.AddDate(-k, 0, 0)
		year := origin.In(calendar.Shanghai).Year()
		if year < first {
			break
		}
		if cal.Covers(year) && !origin.Add(reach*time.Duration(fastest)).After(latest) {
			return DilatedClock{Origin: origin, Start: now, Factor: fastest}, nil
		}
	}
	origin := time.Date(first, 1, 1, 9, 0, 0, 0, calendar.Shanghai)
	f := min(fastest, int64(latest.Sub(origin)/reach))
	if f < 1 {
		return DilatedClock{}, fmt.Errorf("the holiday calendar covers %d-%d: too short to reach a public notice %s away", first, last, reach)
	}
	return DilatedClock{Origin: origin, Start: now, Factor: f}, nil
}

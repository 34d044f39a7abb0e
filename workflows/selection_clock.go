package workflows

import (
	"time"

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

// DilatedClock runs Factor times faster than workflow time from Origin: at
// workflow time t it reads Origin + (t − Origin) × Factor, and a wait of d
// takes d / Factor of workflow time (rounded up, so the deadline has passed
// when the wait ends). A real Temporal server cannot skip time; this lets a
// test against one see a public notice of working days end within seconds.
// It is deterministic for a given Origin and Factor, so every worker that may
// replay a batch must be given the same ones.
type DilatedClock struct {
	Origin time.Time
	Factor int64 // at least 1
}

func (c DilatedClock) factor() time.Duration { return time.Duration(max(c.Factor, 1)) }

func (c DilatedClock) Now(ctx workflow.Context) time.Time {
	t := workflow.Now(ctx)
	return c.Origin.Add(t.Sub(c.Origin) * c.factor())
}

func (c DilatedClock) AwaitWithTimeout(ctx workflow.Context, d time.Duration, cond func() bool) (bool, error) {
	f := c.factor()
	return workflow.AwaitWithTimeout(ctx, (d+f-1)/f, cond)
}

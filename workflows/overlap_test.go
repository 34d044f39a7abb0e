package workflows_test

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"keytask/activities"
)

// overlap measures how many Append activities a workflow has in flight at
// once. Each append to one of the streams under test waits, for up to
// overlapWait, until want are in flight before it runs (appends elsewhere, such
// as the opening, pass straight through): a workflow that issues them together reaches want whatever the
// goroutines' timing, and one that issues them one after another never gets
// past one. The wait is long because on a loaded machine the activities a
// workflow task scheduled together can start more than a second apart; only a
// failing workflow pays it.
const overlapWait = 15 * time.Second

type overlap struct {
	mu             sync.Mutex
	inflight, most int
	want           int
}

func trackAppends(env *testsuite.TestWorkflowEnvironment, a *activities.Activities, want int, streams ...string) *overlap {
	o := &overlap{want: want}
	env.OnActivity("Append", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
			if !slices.Contains(streams, req.Stream) {
				return a.Append(ctx, req)
			}
			o.mu.Lock()
			o.inflight++
			o.most = max(o.most, o.inflight)
			o.mu.Unlock()
			for deadline := time.Now().Add(overlapWait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				o.mu.Lock()
				done := o.most >= o.want
				o.mu.Unlock()
				if done {
					break
				}
			}
			defer func() {
				o.mu.Lock()
				o.inflight--
				o.mu.Unlock()
			}()
			return a.Append(ctx, req)
		})
	return o
}

func (o *overlap) max() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.most
}

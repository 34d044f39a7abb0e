package workflows_test

import (
	"context"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"keytask/activities"
)

// overlap measures how many Append activities a workflow has in flight at
// once. Each append waits, for up to a second, until want are in flight before
// it runs: a workflow that issues them together reaches want whatever the
// goroutines' timing, and one that issues them one after another never gets
// past one.
type overlap struct {
	mu             sync.Mutex
	inflight, most int
	want           int
}

func trackAppends(env *testsuite.TestWorkflowEnvironment, a *activities.Activities, want int) *overlap {
	o := &overlap{want: want}
	env.OnActivity("Append", mock.Anything, mock.Anything).Return(
		func(ctx context.Context, req activities.AppendRequest) (activities.AppendResult, error) {
			o.mu.Lock()
			o.inflight++
			o.most = max(o.most, o.inflight)
			o.mu.Unlock()
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
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

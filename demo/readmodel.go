package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// readModelWait bounds a wait for the read models. The projector builds them
// one event at a time per projection; at national scale its backlog after a
// burst of writes takes minutes to clear on a small machine.
const readModelWait = 15 * time.Minute

// awaitReadModel waits until check reports done, as a client waits for what it
// just did to show. Every few seconds it prints the projector's backlog, read
// from the platform's metrics.
func (r *Round) awaitReadModel(ctx context.Context, what string, check func() (bool, error)) error {
	// Half a second between looks: a batch's read model is large at national
	// scale, and reading it often would slow the projector it waits for.
	return poll(ctx, readModelWait, 500*time.Millisecond, what, func() (bool, error) {
		done, err := check()
		if done || err != nil {
			return done, err
		}
		// One report every few seconds, however many wait at once.
		r.mu.Lock()
		due := time.Since(r.lagShown) >= progressEvery
		if due {
			r.lagShown = time.Now()
		}
		r.mu.Unlock()
		if due {
			if lag, ok := r.projectionLag(ctx); ok {
				fmt.Fprintf(r.cfg.Out, "        等待%s：投影积压 %d 个事件\n", what, lag)
			}
		}
		return false, nil
	})
}

// projectionLag is the largest backlog of any projection, in events, as
// /metrics reports it (keytask_projection_lag_events).
func (r *Round) projectionLag(ctx context.Context) (int64, bool) {
	res, err := r.c.call(ctx, "GET", "/metrics", "", nil)
	if err != nil || res.status != 200 {
		return 0, false
	}
	lag, found := maxMetric(res.body, "keytask_projection_lag_events")
	if found {
		r.mu.Lock()
		r.maxLag = max(r.maxLag, lag)
		r.mu.Unlock()
	}
	return lag, found
}

// maxMetric is the largest value of the named metric in a Prometheus text exposition.
func maxMetric(body []byte, name string) (int64, bool) {
	var best int64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue // another metric sharing the prefix
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		found = true
		best = max(best, int64(v))
	}
	return best, found
}

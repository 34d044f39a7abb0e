package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client talks to keytask's HTTP API as any API client does.
type client struct {
	base string
	hc   *http.Client
	sent atomic.Int64
}

func newClient(base string) *client {
	// Long enough for an expert assignment of a national batch on a busy machine.
	t := &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: time.Minute}
	return &client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 3 * time.Minute, Transport: t}}
}

// reply is an answer of the API.
type reply struct {
	status int
	body   []byte
}

// decode reads the JSON answer into v.
func (r reply) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decode answer (%d): %w: %.200s", r.status, err, r.body)
	}
	return nil
}

// call sends a request; body is JSON unless it is url.Values (a form) or nil.
// header holds name, value pairs.
func (c *client) call(ctx context.Context, method, path, token string, body any, header ...string) (reply, error) {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		rd, ctype = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c.sent.Add(1)
	res, err := c.hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	out := reply{status: res.StatusCode}
	if out.body, err = io.ReadAll(res.Body); err != nil {
		return out, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return out, nil
}

// must sends a request and fails unless the answer has one of the statuses
// (200 or 201 when none are given).
func (c *client) must(ctx context.Context, method, path, token string, body any, want []int, header ...string) (reply, error) {
	r, err := c.call(ctx, method, path, token, body, header...)
	if err != nil {
		return r, err
	}
	if len(want) == 0 {
		want = []int{http.StatusOK, http.StatusCreated}
	}
	for _, w := range want {
		if r.status == w {
			return r, nil
		}
	}
	return r, fmt.Errorf("%s %s: answered %d, want %v: %.500s", method, path, r.status, want, r.body)
}

// ok answers 200 or 201.
func ok() []int { return nil }

// eventually retries check every 100 ms until it reports done, fails, or the
// time is up: what a client does while read models catch up.
func eventually(ctx context.Context, within time.Duration, what string, check func() (bool, error)) error {
	return poll(ctx, within, 100*time.Millisecond, what, check)
}

// poll is eventually with its own interval.
func poll(ctx context.Context, within, every time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// parallel runs f(0..n-1), at most workers at a time, as many users acting at
// once, and returns the first error (after which it starts no more).
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	idx := make(chan int)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				if err := f(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case idx <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(idx)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Package eventfeed carries churn's scale events to the clients.
//
// A client needs each event's target to record when its streams converge.
// Rather than have hundreds of clients watch Deployments (load on the API
// server, and a second watcher of what the experiment changes) or annotate
// anything the destination controller watches (Services, Pods,
// EndpointSlices), churn serves the events it wrote on its own HTTP port
// (GET /events) and each client long-polls that feed: one cheap request per
// client per wave, no API server involved, and the client learns an event
// within a round trip of its write, long before its endpoints change.
//
// Protocol: GET /events?after=N&wait=D returns, as JSON lines
// (record.ScaleEvent), the events after the first N the caller already has,
// waiting up to D (default 30s, at most 60s) for at least one. The header
// X-Dstload-Feed names the feed instance: when churn restarts it changes,
// and followers start again from the first event. A follower passes the
// instance it follows as feed=ID; another instance answers at once, so the
// follower does not wait for events it will never get.
package eventfeed

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/dstload/dstload/workload/record"
)

// Feed is an append-only list of scale events that readers can wait on.
type Feed struct {
	id     string
	mu     sync.Mutex
	events []record.ScaleEvent
	more   chan struct{} // closed and replaced on every append
}

// New returns an empty feed.
func New() *Feed {
	return &Feed{id: strconv.FormatInt(time.Now().UnixNano(), 36), more: make(chan struct{})}
}

// feedHeader carries the feed instance's id.
const feedHeader = "X-Dstload-Feed"

// Append adds an event and wakes all waiting readers.
func (f *Feed) Append(e record.ScaleEvent) {
	f.mu.Lock()
	f.events = append(f.events, e)
	close(f.more)
	f.more = make(chan struct{})
	f.mu.Unlock()
}

// Events returns a copy of all events.
func (f *Feed) Events() []record.ScaleEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]record.ScaleEvent(nil), f.events...)
}

// After returns the events after the first n, waiting until there is one or
// ctx ends.
func (f *Feed) After(ctx context.Context, n int) []record.ScaleEvent {
	for {
		f.mu.Lock()
		if n < len(f.events) {
			out := append([]record.ScaleEvent(nil), f.events[max(n, 0):]...)
			f.mu.Unlock()
			return out
		}
		more := f.more
		f.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return nil
		}
	}
}

// ServeHTTP implements the GET /events protocol.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := strconv.Atoi(q.Get("after"))
	if q.Get("after") == "" {
		after, err = 0, nil
	}
	if err != nil || after < 0 {
		http.Error(w, "after must be a non-negative integer", http.StatusBadRequest)
		return
	}
	wait := 30 * time.Second
	if s := q.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			http.Error(w, "wait must be a duration such as 30s", http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set(feedHeader, f.id)
	if id := q.Get("feed"); id != "" && id != f.id {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), min(wait, time.Minute))
	defer cancel()
	events := f.After(ctx, after)
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return
		}
	}
}

// Follow long-polls the feed at url (churn's base URL or its /events URL)
// and calls fn with each event in order, until ctx ends. Errors are logged
// and retried with capped backoff; fn is never called twice for one event.
func Follow(ctx context.Context, log *slog.Logger, rawURL string, fn func(record.ScaleEvent)) {
	u, err := url.Parse(rawURL)
	if err != nil {
		log.Error("event feed URL", "url", rawURL, "err", err)
		return
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/events"
	}
	client := &http.Client{Timeout: 45 * time.Second}
	seen, backoff, id := 0, 100*time.Millisecond, ""
	for ctx.Err() == nil {
		n, err := poll(ctx, client, u, &seen, &id, log, fn)
		seen += n
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("event feed", "url", u.String(), "err", err, "retry", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func poll(ctx context.Context, client *http.Client, base *url.URL, seen *int, id *string, log *slog.Logger, fn func(record.ScaleEvent)) (int, error) {
	u := *base
	q := u.Query()
	q.Set("after", strconv.Itoa(*seen))
	q.Set("wait", "30s")
	if *id != "" {
		q.Set("feed", *id)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", u.String(), resp.Status)
	}
	got := resp.Header.Get(feedHeader)
	if got == "" {
		// Not churn's feed (a wrong URL): an error, so the caller backs off
		// instead of polling an endpoint that answers at once in a loop.
		return 0, fmt.Errorf("GET %s: not a dstload event feed (no %s header)", u.String(), feedHeader)
	}
	if got != *id {
		if *id != "" {
			// A new churn process: its events start again at the first.
			log.Warn("event feed restarted; following it from its first event", "url", base.String())
			*seen = 0
			*id = got
			return 0, nil
		}
		*id = got
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e record.ScaleEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return n, fmt.Errorf("decode event: %w", err)
		}
		fn(e)
		n++
	}
	return n, sc.Err()
}

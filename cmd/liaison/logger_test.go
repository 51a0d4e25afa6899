package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// lockedBuffer is a WriteSyncer the test reads after the gateway stops.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) Sync() error { return nil }

var _ zapcore.WriteSyncer = (*lockedBuffer)(nil)

// TestAccessLogKeepsEveryLine: 400 requests from 16 concurrent clients to a
// real gateway logging through the production JSON logger give 400 access
// lines, one per request id. zap's production sampling kept about 100.
func TestAccessLogKeepsEveryLine(t *testing.T) {
	const requests, workers = 400, 16
	var out lockedBuffer
	log, err := newLoggerTo("json", "info", &out)
	if err != nil {
		t.Fatal(err)
	}
	env := gatewaytest.Start(t, gatewaytest.Options{Logger: log})
	c := env.Client("met-police")
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range workers {
		wg.Go(func() {
			for range jobs {
				resp, err := c.Do("GET", "/v1/records?limit=1", nil)
				if err != nil {
					t.Error(err)
					continue
				}
				mu.Lock()
				codes[resp.Status]++
				mu.Unlock()
			}
		})
	}
	for i := range requests {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	env.Stop()

	out.mu.Lock()
	defer out.mu.Unlock()
	lines, ids := 0, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg       string `json:"msg"`
			Level     string `json:"level"`
			RequestID string `json:"request_id"`
			Route     string `json:"route"`
			Status    int    `json:"status"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		if l.Msg != "request" {
			continue
		}
		lines++
		if l.RequestID == "" || l.Status == 0 || l.Route == "" {
			t.Errorf("access line lacks request_id, status or route: %s", sc.Text())
		}
		ids[l.RequestID] = true
	}
	if lines != requests || len(ids) != requests {
		t.Fatalf("access lines: %d (%d distinct request ids) for %d requests (statuses %v)", lines, len(ids), requests, codes)
	}
}

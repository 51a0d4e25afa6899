package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbeHealth(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var out bytes.Buffer
	if err := probeHealth(context.Background(), srv.URL+"/readyz", time.Second, &out); err != nil || !strings.Contains(out.String(), "200") {
		t.Errorf("ready: %v %q", err, out.String())
	}
	ready = false
	if err := probeHealth(context.Background(), srv.URL+"/readyz", time.Second, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("not ready: %v", err)
	}
	srv.Close()
	if err := probeHealth(context.Background(), srv.URL+"/readyz", time.Second, &out); err == nil {
		t.Error("a closed port is healthy")
	}
}

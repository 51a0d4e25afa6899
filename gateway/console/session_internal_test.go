package console

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/liaison-project/liaison/crypto/jose"
)

// TestSessionEviction: when full, the session closest to its end goes,
// and the newest is kept.
func TestSessionEviction(t *testing.T) {
	s := newSessions(3, 15*time.Minute, 8*time.Hour)
	now := time.Unix(1_800_000_000, 0)
	p := peer{agency: "met-police", certFP: "fp"}
	o := jose.Officer{ID: "o", ExpiresAt: now.Add(time.Hour)}
	var ids []string
	for i := range 3 {
		id, _ := s.create(p, o, "t", now.Add(time.Duration(i)*time.Minute))
		ids = append(ids, id)
	}
	id4, _ := s.create(p, o, "t", now.Add(5*time.Minute))
	if s.len() != 3 {
		t.Fatalf("%d sessions", s.len())
	}
	get := func(id string) error {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", sessionCookie+"="+id)
		_, err := s.lookup(r, p, now.Add(6*time.Minute))
		return err
	}
	if err := get(ids[0]); err == nil {
		t.Fatal("the oldest session was not evicted")
	}
	for _, id := range append(ids[1:], id4) {
		if err := get(id); err != nil {
			t.Fatalf("a newer session was evicted: %v", err)
		}
	}
}

// BenchmarkSessionLookup: one lookup among 10,000 sessions.
func BenchmarkSessionLookup(b *testing.B) {
	s := newSessions(10000, 15*time.Minute, 8*time.Hour)
	now := time.Now()
	p := peer{agency: "met-police", certFP: "fp"}
	o := jose.Officer{ID: "o", ExpiresAt: now.Add(time.Hour)}
	var id string
	for range 10000 {
		id, _ = s.create(p, o, "t", now)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", sessionCookie+"="+id)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.lookup(r, p, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionCreateFull: a sign-in when 10,000 sessions are held
// (the eviction scans them all).
func BenchmarkSessionCreateFull(b *testing.B) {
	s := newSessions(10000, 15*time.Minute, 8*time.Hour)
	now := time.Now()
	p := peer{agency: "met-police", certFP: "fp"}
	o := jose.Officer{ID: "o", ExpiresAt: now.Add(time.Hour)}
	for range 10000 {
		s.create(p, o, "t", now)
	}
	b.ResetTimer()
	for b.Loop() {
		s.create(p, o, "t", now)
	}
}

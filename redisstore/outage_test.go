package redisstore_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/redistest"
	"github.com/zohoquota/zohoquota/redisstore"
)

// TestOutage stops redis-server under two limiters, one failing closed and one
// failing open, then starts it again on the same socket with the data it saved.
func TestOutage(t *testing.T) {
	redistest.Require(t, srv, srvErr)
	s, err := redistest.Start(false) // its own server: the others' tests go on
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.Client()
	defer c.Close()
	store := redisstore.NewFromClient(c)

	const limit = 1000
	q := zohoquota.Quota{Limit: limit, Window: zohoquota.Daily(zohoquota.PST), Concurrency: 10}
	closed, _ := zohoquota.NewLimiter(q, zohoquota.WithStore(store), zohoquota.WithKey("org"))
	open, err := zohoquota.NewLimiter(q, zohoquota.WithStore(store), zohoquota.WithKey("org"), zohoquota.WithFailOpen(0.1))
	if err != nil {
		t.Fatal(err)
	}
	if !closed.AllowN(100) || !open.AllowN(100) {
		t.Fatal("admissions before the outage refused")
	}

	if err := s.StopSaving(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = closed.WaitN(context.Background(), 1)
	if !errors.Is(err, zohoquota.ErrStoreUnavailable) || !strings.Contains(err.Error(), "fail closed") {
		t.Fatalf("fail-closed WaitN during the outage = %v, want ErrStoreUnavailable", err)
	}
	if closed.AllowN(1) {
		t.Fatal("fail-closed AllowN admitted during the outage")
	}
	t.Logf("fail-closed refusal took %v", time.Since(start))
	if _, err := closed.Acquire(context.Background(), 1); !errors.Is(err, zohoquota.ErrStoreUnavailable) {
		t.Fatalf("fail-closed Acquire during the outage = %v, want ErrStoreUnavailable", err)
	}
	// Fail open: a unit of the local budget and a slot of the local pool (a tenth of 10).
	release, err := open.Acquire(context.Background(), 1)
	if err != nil {
		t.Fatalf("fail-open Acquire during the outage: %v", err)
	}
	release()
	local := 1
	for range 2 * limit {
		if !open.AllowN(1) {
			break
		}
		local++
	}
	if local != limit/10 {
		t.Fatalf("fail-open admitted %d during the outage, want its local budget %d", local, limit/10)
	}

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// go-redis redials a server it lost within a second or so.
	deadline := time.Now().Add(10 * time.Second)
	for !closed.AllowN(1) {
		if time.Now().After(deadline) {
			t.Fatal("fail-closed limiter did not use the restarted server")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !open.AllowN(1) {
		t.Fatal("fail-open limiter refused after the restart")
	}
	// The ledger kept what was spent before the outage, counts both again, and
	// holds the fail-open limiter's local spending, written back when Redis
	// answered.
	if u := closed.Usage(); u.Used != 200+limit/10+2 {
		t.Fatalf("used after the outage = %d, want %d", u.Used, 200+limit/10+2)
	}
}

// TestOneRoundTrip checks with INFO commandstats that an admission is one EVALSHA
// and nothing else, and that a flushed script cache costs one EVAL, once.
func TestOneRoundTrip(t *testing.T) {
	c := client(t)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		t.Run(w.String(), func(t *testing.T) {
			s := redisstore.NewFromClient(c)
			key := keyOf(t)
			// Warm up: load the script and let the store learn Redis's clock.
			if _, err := s.Take(ctx, key, 1, 1_000_000, w, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := c.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			const n = 500
			for range n {
				if d, err := s.Take(ctx, key, 1, 1_000_000, w, time.Now()); err != nil || !d.OK {
					t.Fatalf("Take = %+v, %v", d, err)
				}
			}
			st := commandStats(t, c)
			t.Logf("%d admissions: %v", n, st)
			if st["evalsha"] != n || st["eval"] != 0 {
				t.Fatalf("commandstats after %d admissions: evalsha %d, eval %d; want %d and 0", n, st["evalsha"], st["eval"], n)
			}
			for cmd, calls := range st {
				if calls > 3*n {
					t.Errorf("%s called %d times for %d admissions", cmd, calls, n)
				}
			}

			if err := c.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			_ = c.ConfigResetStat(ctx).Err()
			for range 2 {
				if _, err := s.Take(ctx, key, 1, 1_000_000, w, time.Now()); err != nil {
					t.Fatalf("Take after SCRIPT FLUSH: %v", err)
				}
			}
			st = commandStats(t, c)
			if st["evalsha"] != 2 || st["eval"] != 1 {
				t.Fatalf("after SCRIPT FLUSH: evalsha %d, eval %d; want 2 (one NOSCRIPT) and 1", st["evalsha"], st["eval"])
			}
		})
	}
}

// commandStats returns the calls of each command since the last CONFIG RESETSTAT,
// the scripts' own calls included, CONFIG and INFO left out.
func commandStats(t testing.TB, c *redis.Client) map[string]int {
	t.Helper()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	st := make(map[string]int)
	for line := range strings.Lines(info) {
		// cmdstat_evalsha:calls=500,usec=...,rejected_calls=0,failed_calls=0
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || strings.HasPrefix(name, "config") || name == "info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q: %v", line, err)
		}
		st[name] = n
	}
	return st
}

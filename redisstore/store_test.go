package redisstore_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/redisstore"
)

var ctx = context.Background()

func newStore(t testing.TB, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	return redisstore.NewFromClient(client(t), opts...)
}

// stores returns the memory store and a Redis store, so that each semantic test
// shows that redisstore does what the reference does.
func stores(t *testing.T, opts ...redisstore.Option) []struct {
	name string
	s    zohoquota.Store
} {
	return []struct {
		name string
		s    zohoquota.Store
	}{
		{"memory", zohoquota.NewMemoryStore()},
		{"redis", newStore(t, opts...)},
	}
}

type step struct {
	op       string // take, refund (the last admitted take), setrem, usage
	n        int    // cost or remaining
	wantOK   bool
	wantUsed int
}

func TestStoreSemantics(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		w     zohoquota.Window
		steps []step
	}{
		{"daily fills to the limit", 10, zohoquota.Daily(zohoquota.PST), []step{
			{"take", 4, true, 4}, {"take", 6, true, 10}, {"take", 1, false, 10}, {"usage", 0, false, 10},
		}},
		{"refusal consumes nothing", 10, zohoquota.Daily(zohoquota.Pacific()), []step{
			{"take", 8, true, 8}, {"take", 3, false, 8}, {"take", 2, true, 10},
		}},
		{"refund gives back exactly the cost", 10, zohoquota.Daily(zohoquota.PST), []step{
			{"take", 7, true, 7}, {"take", 2, true, 9}, {"refund", 0, false, 7}, {"take", 3, true, 10},
		}},
		{"set remaining only raises used", 100, zohoquota.Daily(zohoquota.PST), []step{
			{"take", 5, true, 5}, {"setrem", 60, false, 40}, {"setrem", 90, false, 40}, {"take", 61, false, 40},
			{"take", 60, true, 100},
		}},
		{"rolling fills to the limit", 10, zohoquota.Rolling(time.Hour), []step{
			{"take", 10, true, 10}, {"take", 1, false, 10}, {"usage", 0, false, 10},
		}},
		{"rolling refund", 10, zohoquota.Rolling(time.Hour), []step{
			{"take", 4, true, 4}, {"take", 5, true, 9}, {"refund", 0, false, 4}, {"take", 6, true, 10},
		}},
		{"rolling set remaining", 50, zohoquota.Rolling(time.Hour), []step{
			{"setrem", 20, false, 30}, {"setrem", 45, false, 30}, {"take", 21, false, 30}, {"take", 20, true, 50},
		}},
	}
	for _, tt := range tests {
		for _, st := range stores(t) {
			t.Run(tt.name+"/"+st.name, func(t *testing.T) {
				key := keyOf(t)
				var last zohoquota.Decision
				for i, sp := range tt.steps {
					now := time.Now()
					var used int
					switch sp.op {
					case "take":
						d, err := st.s.Take(ctx, key, sp.n, tt.limit, tt.w, now)
						if err != nil {
							t.Fatalf("step %d: Take(%d): %v", i, sp.n, err)
						}
						if d.OK != sp.wantOK {
							t.Fatalf("step %d: Take(%d).OK = %v, want %v", i, sp.n, d.OK, sp.wantOK)
						}
						if d.Cost != sp.n {
							t.Errorf("step %d: Take(%d).Cost = %d", i, sp.n, d.Cost)
						}
						checkReset(t, d, tt.w)
						if d.OK {
							last = d
						}
						used = d.Used
					case "refund":
						if err := st.s.Refund(ctx, key, last, tt.w); err != nil {
							t.Fatalf("step %d: Refund: %v", i, err)
						}
					case "setrem":
						if err := st.s.SetRemaining(ctx, key, sp.n, tt.limit, tt.w, now); err != nil {
							t.Fatalf("step %d: SetRemaining(%d): %v", i, sp.n, err)
						}
					}
					u, err := st.s.Usage(ctx, key, tt.limit, tt.w, time.Now())
					if err != nil {
						t.Fatalf("step %d: Usage: %v", i, err)
					}
					if sp.op != "take" {
						used = u.Used
					}
					if used != sp.wantUsed || u.Used != sp.wantUsed {
						t.Fatalf("step %d (%s %d): used = %d, usage %d, want %d", i, sp.op, sp.n, used, u.Used, sp.wantUsed)
					}
					if u.Limit != tt.limit || u.Remaining != max(0, tt.limit-sp.wantUsed) {
						t.Errorf("step %d: Usage = %+v, want limit %d remaining %d", i, u, tt.limit, tt.limit-sp.wantUsed)
					}
				}
			})
		}
	}
}

// checkReset checks a decision's ResetAt against its At: the next midnight in the
// zone for a calendar day; for a rolling window, at most one window (and bucket)
// after At.
func checkReset(t *testing.T, d zohoquota.Decision, w zohoquota.Window) {
	t.Helper()
	if !w.IsRolling() {
		if want := zohoquota.NextReset(d.At, w.Location()); !d.ResetAt.Equal(want) {
			t.Errorf("ResetAt = %v, want the next midnight %v (At %v)", d.ResetAt, want, d.At)
		}
		return
	}
	if wait := d.ResetAt.Sub(d.At); wait <= 0 || wait > w.Length+w.BucketSize() {
		t.Errorf("ResetAt - At = %v, want in (0, %v]", wait, w.Length+w.BucketSize())
	}
}

func TestRollingFreesAfterTheWindow(t *testing.T) {
	w := zohoquota.Window{Length: 800 * time.Millisecond, Bucket: 100 * time.Millisecond}
	for _, st := range stores(t) {
		t.Run(st.name, func(t *testing.T) {
			key := keyOf(t)
			first, err := st.s.Take(ctx, key, 3, 5, w, time.Now())
			if err != nil || !first.OK {
				t.Fatalf("Take(3) = %+v, %v", first, err)
			}
			time.Sleep(250 * time.Millisecond)
			second, err := st.s.Take(ctx, key, 2, 5, w, time.Now())
			if err != nil || !second.OK {
				t.Fatalf("Take(2) = %+v, %v", second, err)
			}
			d, err := st.s.Take(ctx, key, 3, 5, w, time.Now())
			if err != nil || d.OK {
				t.Fatalf("Take(3) over the limit = %+v, %v", d, err)
			}
			// The first spending (3 units) frees enough: its bucket's release.
			if d.ResetAt.After(first.At.Add(w.Length+w.Bucket)) || d.ResetAt.Before(first.At.Add(w.Length)) {
				t.Fatalf("refusal ResetAt = %v, want the first bucket's release in [%v, %v]",
					d.ResetAt, first.At.Add(w.Length), first.At.Add(w.Length+w.Bucket))
			}
			time.Sleep(d.ResetAt.Sub(d.At) + 10*time.Millisecond)
			d, err = st.s.Take(ctx, key, 3, 5, w, time.Now())
			if err != nil || !d.OK || d.Used != 5 {
				t.Fatalf("Take(3) after the release = %+v, %v; want admitted with used 5", d, err)
			}
			// The next units to free up are the second spending's.
			if d.ResetAt.Before(second.At.Add(w.Length)) || d.ResetAt.After(second.At.Add(w.Length+w.Bucket)) {
				t.Fatalf("ResetAt = %v, want the second bucket's release in [%v, %v]",
					d.ResetAt, second.At.Add(w.Length), second.At.Add(w.Length+w.Bucket))
			}
			// A refund after the units freed up gives nothing back twice.
			if err := st.s.Refund(ctx, key, first, w); err != nil {
				t.Fatal(err)
			}
			if u, _ := st.s.Usage(ctx, key, 5, w, time.Now()); u.Used != 5 {
				t.Fatalf("used after a stale refund = %d, want 5", u.Used)
			}
		})
	}
}

func TestBlock(t *testing.T) {
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(time.Hour)} {
		for _, st := range stores(t) {
			t.Run(w.String()+"/"+st.name, func(t *testing.T) {
				key := keyOf(t)
				now := time.Now()
				if err := st.s.Block(ctx, key, now.Add(300*time.Millisecond), w, now); err != nil {
					t.Fatal(err)
				}
				d, err := st.s.Take(ctx, key, 1, 10, w, time.Now())
				if err != nil || d.OK {
					t.Fatalf("Take while blocked = %+v, %v", d, err)
				}
				if wait := d.ResetAt.Sub(d.At); wait <= 0 || wait > 300*time.Millisecond {
					t.Fatalf("blocked ResetAt - At = %v, want in (0, 300ms]", wait)
				}
				u, err := st.s.Usage(ctx, key, 10, w, time.Now())
				if err != nil || u.Remaining != 0 || !u.ResetAt.Equal(d.ResetAt) {
					t.Fatalf("Usage while blocked = %+v, %v; want 0 remaining until %v", u, err, d.ResetAt)
				}
				time.Sleep(d.ResetAt.Sub(d.At) + 10*time.Millisecond)
				if d, err := st.s.Take(ctx, key, 1, 10, w, time.Now()); err != nil || !d.OK {
					t.Fatalf("Take after the block = %+v, %v", d, err)
				}
			})
		}
	}
}

// TestDailyReset puts the Redis clock just before midnight (through the test-only
// time shift) and watches the day turn.
func TestDailyReset(t *testing.T) {
	tests := []struct {
		name    string
		loc     *time.Location
		day     time.Time // the day that starts at the midnight crossed
		wantLen time.Duration
	}{
		{"PST", zohoquota.PST, time.Date(2026, 3, 8, 0, 0, 0, 0, zohoquota.PST), 24 * time.Hour},
		{"Pacific spring forward", zohoquota.Pacific(), time.Date(2026, 3, 8, 0, 0, 0, 0, zohoquota.Pacific()), 23 * time.Hour},
		{"Pacific fall back", zohoquota.Pacific(), time.Date(2026, 11, 1, 0, 0, 0, 0, zohoquota.Pacific()), 25 * time.Hour},
		{"UTC", time.UTC, time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Redis's clock reads 600ms before tt.day (give or take the time to here).
			shift := time.Until(tt.day.Add(-600 * time.Millisecond))
			c := client(t)
			s := redisstore.NewFromClient(c, redisstore.WithTimeShift(shift))
			w := zohoquota.Daily(tt.loc)
			key := keyOf(t)
			d, err := s.Take(ctx, key, 5, 5, w, time.Now())
			if err != nil || !d.OK {
				t.Fatalf("Take(5) = %+v, %v", d, err)
			}
			if !d.ResetAt.Equal(tt.day) {
				t.Fatalf("ResetAt = %v, want %v", d.ResetAt, tt.day)
			}
			d, err = s.Take(ctx, key, 1, 5, w, time.Now())
			if err != nil || d.OK || !d.ResetAt.Equal(tt.day) {
				t.Fatalf("Take(1) on a full day = %+v, %v; want refused until %v", d, err, tt.day)
			}
			time.Sleep(d.ResetAt.Sub(d.At) + 10*time.Millisecond)
			d, err = s.Take(ctx, key, 2, 5, w, time.Now())
			if err != nil || !d.OK || d.Used != 2 {
				t.Fatalf("Take(2) after midnight = %+v, %v; want admitted on a fresh day", d, err)
			}
			if got := d.ResetAt.Sub(tt.day); got != tt.wantLen {
				t.Fatalf("the day of %v lasts %v, want %v (ResetAt %v)", tt.day, got, tt.wantLen, d.ResetAt)
			}
			// A refund of yesterday's units does not touch today's.
			if err := s.Refund(ctx, key, zohoquota.Decision{OK: true, Cost: 5, At: tt.day.Add(-time.Second)}, w); err != nil {
				t.Fatal(err)
			}
			if u, _ := s.Usage(ctx, key, 5, w, time.Now()); u.Used != 2 {
				t.Fatalf("used after refunding yesterday = %d, want 2", u.Used)
			}
			// Only the new day is kept.
			fields, err := c.HKeys(ctx, "zohoquota:{"+key+"}:day").Result()
			slices.Sort(fields)
			if want := []string{tt.day.Format("2006-01-02"), "last"}; err != nil || !slices.Equal(fields, want) {
				t.Fatalf("day hash fields = %q, %v; want %q", fields, err, want)
			}
		})
	}
}

// TestClockOnlyMovesForward: a store whose clock runs an hour ahead spends; one
// on the true clock then decides at the later time, not its own.
func TestClockOnlyMovesForward(t *testing.T) {
	ahead := newStore(t, redisstore.WithTimeShift(time.Hour))
	behind := newStore(t)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		key := keyOf(t) + w.String()
		a, err := ahead.Take(ctx, key, 1, 10, w, time.Now())
		if err != nil || !a.OK {
			t.Fatalf("%v: Take = %+v, %v", w, a, err)
		}
		b, err := behind.Take(ctx, key, 1, 10, w, time.Now())
		if err != nil || !b.OK || b.Used != 2 {
			t.Fatalf("%v: Take = %+v, %v", w, b, err)
		}
		if b.At.Before(a.At) {
			t.Fatalf("%v: second decision at %v, before the first at %v", w, b.At, a.At)
		}
	}
}

// TestCallerClockIgnored: two limiters passing times an hour apart (and a day
// apart) share one window, because the ledger runs on Redis's clock.
func TestCallerClockIgnored(t *testing.T) {
	s := newStore(t)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(time.Hour)} {
		q := zohoquota.Quota{Limit: 10, Window: w}
		key := zohoquota.WithKey(keyOf(t) + w.String())
		l1, err := zohoquota.NewLimiter(q, zohoquota.WithStore(s), key)
		if err != nil {
			t.Fatal(err)
		}
		l2, _ := zohoquota.NewLimiter(q, zohoquota.WithStore(s), key)
		now := time.Now()
		if !l1.AllowNAt(now, 4) || !l2.AllowNAt(now.Add(time.Hour), 4) || !l1.AllowNAt(now.Add(-25*time.Hour), 2) {
			t.Fatalf("%v: admissions within the limit refused", w)
		}
		if l2.AllowNAt(now.Add(48*time.Hour), 1) {
			t.Fatalf("%v: a caller two days ahead got a unit of a full window", w)
		}
		if u := l1.Usage(); u.Used != 10 {
			t.Fatalf("%v: used = %d, want 10", w, u.Used)
		}
	}
}

// TestDayGuessRecovers: a store whose idea of Redis's clock is days off (here,
// Redis's clock is) still finds the day, in a second round trip, and needs only
// one from then on.
func TestDayGuessRecovers(t *testing.T) {
	c := client(t)
	w := zohoquota.Daily(zohoquota.PST)
	// Load the script first, so that the counts below see no NOSCRIPT retry.
	if _, err := redisstore.NewFromClient(c).Usage(ctx, keyOf(t), 10, w, time.Now()); err != nil {
		t.Fatal(err)
	}
	var calls countHook
	c.AddHook(&calls)
	s := redisstore.NewFromClient(c, redisstore.WithTimeShift(-72*time.Hour))
	key := keyOf(t)
	d, err := s.Take(ctx, key, 1, 10, w, time.Now())
	if err != nil || !d.OK {
		t.Fatalf("Take = %+v, %v", d, err)
	}
	if got := time.Since(d.At); got < 71*time.Hour {
		t.Fatalf("decision at %v, want three days ago", d.At)
	}
	first := calls.n.Load()
	if first != 2 {
		t.Errorf("first Take sent %d commands, want 2 (a miss and the retry)", first)
	}
	if _, err := s.Take(ctx, key, 1, 10, w, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := calls.n.Load() - first; got != 1 {
		t.Errorf("second Take sent %d commands, want 1", got)
	}
}

func TestKeys(t *testing.T) {
	c := client(t)
	s := redisstore.NewFromClient(c, redisstore.WithPrefix("zq-keys"))
	org := "acme {eu} 100%"
	if old, _ := c.Keys(ctx, "zq-keys:*").Result(); len(old) > 0 {
		c.Del(ctx, old...) // a run before this one (-count)
	}
	if _, err := s.Take(ctx, org, 1, 10, zohoquota.Daily(zohoquota.PST), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Block(ctx, org, time.Now().Add(time.Minute), zohoquota.Daily(zohoquota.PST), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Take(ctx, org, 1, 10, zohoquota.Rolling(time.Hour), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AcquireSlots(ctx, org, 1, 5, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "zq-keys:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	tag := "zq-keys:{acme %7Beu%7D 100%25}:"
	want := map[string]bool{tag + "day": true, tag + "roll": true, tag + "roll:rel": true, tag + "slots": true}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("unexpected key %q (want the hash tag %q)", k, tag)
		}
		delete(want, k)
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("key %q: PTTL = %v, %v; every key must expire", k, ttl, err)
		}
	}
	for k := range want {
		t.Errorf("missing key %q", k)
	}
	// The day's units are under its date in the quota's zone.
	today := time.Now().In(zohoquota.PST).Format("2006-01-02")
	if n, err := c.HGet(ctx, tag+"day", today).Int(); err != nil || n != 1 {
		t.Errorf("HGET %sday %s = %d, %v; want 1", tag, today, n, err)
	}
}

func TestSlots(t *testing.T) {
	const ttl = 600 * time.Millisecond
	s := newStore(t, redisstore.WithLeaseTTL(ttl))
	key := keyOf(t)
	now := time.Now()
	a, ok, err := s.AcquireSlots(ctx, key, 3, 5, now)
	if err != nil || !ok || a.Slots != 3 || a.ID == "" {
		t.Fatalf("AcquireSlots(3 of 5) = %+v, %v, %v", a, ok, err)
	}
	if !a.Expires.Equal(now.Add(ttl)) {
		t.Errorf("Expires = %v, want now+TTL %v", a.Expires, now.Add(ttl))
	}
	if _, ok, _ := s.AcquireSlots(ctx, key, 3, 5, now); ok {
		t.Fatal("AcquireSlots(3) with 2 free succeeded")
	}
	b, ok, err := s.AcquireSlots(ctx, key, 2, 5, now)
	if err != nil || !ok {
		t.Fatalf("AcquireSlots(2 of the last 2) = %v, %v", ok, err)
	}
	if n, _ := s.SlotsInUse(ctx, key, now); n != 5 {
		t.Fatalf("SlotsInUse = %d, want 5", n)
	}
	for range 2 { // releasing twice frees once
		if err := s.ReleaseSlots(ctx, key, a); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.SlotsInUse(ctx, key, now); n != 2 {
			t.Fatalf("SlotsInUse after release = %d, want 2", n)
		}
	}
	// b is kept alive by renewals past its TTL; then it lapses.
	for range 4 {
		time.Sleep(ttl / 4)
		if err := s.RenewSlots(ctx, key, b, time.Now()); err != nil {
			t.Fatalf("RenewSlots: %v", err)
		}
	}
	if n, _ := s.SlotsInUse(ctx, key, now); n != 2 {
		t.Fatalf("SlotsInUse of a renewed lease = %d, want 2", n)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	if n, _ := s.SlotsInUse(ctx, key, now); n != 0 {
		t.Fatalf("SlotsInUse after the TTL = %d, want 0", n)
	}
	// A lapsed lease whose slots are free is taken back by its renewal...
	if err := s.RenewSlots(ctx, key, b, time.Now()); err != nil {
		t.Fatalf("RenewSlots of a lapsed lease with room = %v, want it taken back", err)
	}
	if n, _ := s.SlotsInUse(ctx, key, time.Now()); n != 2 {
		t.Fatalf("SlotsInUse after taking a lease back = %d, want 2", n)
	}
	// ... and lost when others hold them meanwhile.
	time.Sleep(ttl + 50*time.Millisecond)
	c, ok, err := s.AcquireSlots(ctx, key, 4, 5, time.Now())
	if err != nil || !ok {
		t.Fatalf("AcquireSlots(4 of 5) = %v, %v", ok, err)
	}
	if err := s.RenewSlots(ctx, key, b, time.Now()); !errors.Is(err, redisstore.ErrLeaseLost) {
		t.Fatalf("RenewSlots of a lapsed lease without room = %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseSlots(ctx, key, c); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AcquireSlots(ctx, key, 5, 5, time.Now()); !ok {
		t.Fatal("AcquireSlots(5) after every lease ended failed")
	}
	if _, ok, _ := s.AcquireSlots(ctx, key+"/other", 5, 0, now); !ok {
		t.Fatal("AcquireSlots with no cap failed")
	}
}

// TestRestartSeesUsage: a new store and limiter on the same Redis (a restarted
// process) see what was spent before.
func TestRestartSeesUsage(t *testing.T) {
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		q := zohoquota.Quota{Limit: 100, Window: w}
		key := zohoquota.WithKey(keyOf(t) + w.String())
		before, _ := zohoquota.NewLimiter(q, zohoquota.WithStore(newStore(t)), key)
		if !before.AllowN(60) {
			t.Fatalf("%v: AllowN(60) refused", w)
		}
		after, _ := zohoquota.NewLimiter(q, zohoquota.WithStore(newStore(t)), key)
		if u := after.Usage(); u.Used != 60 || u.Remaining != 40 {
			t.Fatalf("%v: restarted limiter's usage = %+v, want 60 used", w, u)
		}
		if after.AllowN(41) || !after.AllowN(40) {
			t.Fatalf("%v: restarted limiter admits against a fresh budget", w)
		}
	}
}

// TestLimiterOverRedis runs the limiter's blocking paths over the Redis store.
func TestLimiterOverRedis(t *testing.T) {
	s := newStore(t, redisstore.WithLeaseTTL(time.Second))
	q := zohoquota.Quota{Limit: 5, Window: zohoquota.Window{Length: 500 * time.Millisecond, Bucket: 50 * time.Millisecond}, Concurrency: 1}
	l, err := zohoquota.NewLimiter(q, zohoquota.WithStore(s), zohoquota.WithKey(keyOf(t)), zohoquota.WithSlotPoll(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	release, err := l.Acquire(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if u := l.Usage(); u.InFlight != 1 || u.Used != 5 {
		t.Fatalf("Usage = %+v, want 1 in flight, 5 used", u)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	var qe *zohoquota.QuotaError
	if err := l.WaitN(short, 1); !errors.As(err, &qe) || !errors.Is(err, zohoquota.ErrQuotaExhausted) {
		t.Fatalf("WaitN with a deadline before the release = %v, want a *QuotaError", err)
	}
	// The units free up within the window; the slot when released.
	go func() {
		time.Sleep(100 * time.Millisecond)
		release()
	}()
	start := time.Now()
	p, err := l.AcquirePermit(ctx, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("AcquirePermit waited %v, want the window's release", waited)
	}
	p.Refund()
	if u := l.Usage(); u.Used != 0 || u.InFlight != 0 {
		t.Fatalf("Usage after Refund = %+v, want nothing used or held", u)
	}
	if err := l.Exhaust(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if l.Allow() {
		t.Fatal("Allow after Exhaust admitted")
	}
}

// countHook counts the commands a client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestHugeLimit: a limit past what Lua's doubles count exactly (math.MaxInt, an
// "unlimited" quota) is counted as MaxLimit, which admits less, never more: nothing
// wraps, and a server figure still fills the ledger.
func TestHugeLimit(t *testing.T) {
	s := newStore(t)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		q := zohoquota.Quota{Limit: math.MaxInt, Window: w}
		l, err := zohoquota.NewLimiter(q, zohoquota.WithStore(s), zohoquota.WithKey(keyOf(t)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Take(ctx, keyOf(t), redisstore.MaxLimit+1, math.MaxInt, w, time.Now()); !errors.Is(err, zohoquota.ErrCostAboveLimit) || !strings.Contains(err.Error(), "counts at most") {
			t.Errorf("%v: Take of MaxLimit+1 units = %v, want ErrCostAboveLimit saying what a ledger counts", w, err)
		}
		// A fail-open limiter takes it for the refusal it is, not for an outage.
		fo, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: math.MaxInt, Window: w}, zohoquota.WithStore(s),
			zohoquota.WithKey(keyOf(t)), zohoquota.WithFailOpen(1))
		if err != nil {
			t.Fatal(err)
		}
		if fo.AllowN(redisstore.MaxLimit + 1) {
			t.Errorf("%v: a fail-open limiter admitted MaxLimit+1 units; usage %+v", w, fo.Usage())
		}
		if err := fo.WaitN(ctx, redisstore.MaxLimit+1); !errors.Is(err, zohoquota.ErrCostAboveLimit) {
			t.Errorf("%v: WaitN(MaxLimit+1) = %v, want ErrCostAboveLimit", w, err)
		}
		if !l.AllowN(redisstore.MaxLimit - 10) {
			t.Errorf("%v: refused MaxLimit-10 units; usage %+v", w, l.Usage())
		}
		if l.AllowN(11) || !l.AllowN(10) || l.Allow() {
			t.Errorf("%v: want exactly 10 more; usage %+v", w, l.Usage())
		}

		l, err = zohoquota.NewLimiter(q, zohoquota.WithStore(s), zohoquota.WithKey(keyOf(t)))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetRemaining(ctx, 5); err != nil {
			t.Fatal(err)
		}
		if l.Allow() {
			t.Errorf("%v: admitted after the server said 5 of math.MaxInt remain (more than MaxLimit used)", w)
		}
		if u := l.Usage(); u.Used != redisstore.MaxLimit || u.Remaining != 0 {
			t.Errorf("%v: Used = %d, want MaxLimit %d", w, u.Used, redisstore.MaxLimit)
		}
	}
}

// TestRefundAfterServerFigure: a reservation refunded after a server figure came
// in stays spent, since the figure may count it; one made after it is refunded.
func TestRefundAfterServerFigure(t *testing.T) {
	s := newStore(t)
	// A store whose clock runs a second ahead makes the later reservation later
	// than the figure without waiting (the ledger's clock only moves forward).
	later := newStore(t, redisstore.WithTimeShift(time.Second))
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		key := zohoquota.WithKey(keyOf(t))
		l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 100, Window: w}, zohoquota.WithStore(s), key)
		if err != nil {
			t.Fatal(err)
		}
		ll, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: 100, Window: w}, zohoquota.WithStore(later), key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.AcquirePermit(ctx, 10, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetRemaining(ctx, 50); err != nil {
			t.Fatal(err)
		}
		p.Refund()
		if u := l.Usage(); u.Remaining != 50 {
			t.Errorf("%v: Remaining %d after a refund, want the server's 50", w, u.Remaining)
		}
		if p, err = ll.AcquirePermit(ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
		p.Refund()
		if u := l.Usage(); u.Remaining != 50 {
			t.Errorf("%v: Remaining %d after refunding a later reservation, want 50", w, u.Remaining)
		}
	}
}

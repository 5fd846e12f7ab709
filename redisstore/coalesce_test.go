package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/redisstore"
)

// batch is one take call as the store sent it.
type batch struct {
	costs []int
	ds    []zohoquota.Decision
}

// batchLog records the take calls of one key.
type batchLog struct {
	key     string
	mu      sync.Mutex
	batches []batch
}

func (l *batchLog) hook(key string, costs []int, ds []zohoquota.Decision, err error) {
	if key != l.key || err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches = append(l.batches, batch{costs, ds})
}

// TestCoalescedMatchesSequential: sixteen goroutines spend a budget to its last
// unit through one store. Some takes share a call, and every decision is what the
// memory store decides for the same costs taken one by one in the order the calls
// carried them, at the time Redis reported; each caller gets its own. The last
// window spreads the spending over many buckets, so that a refusal's ResetAt
// counts buckets spent in earlier calls and in its own.
func TestCoalescedMatchesSequential(t *testing.T) {
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(time.Hour),
		{Length: time.Hour, Bucket: time.Millisecond}} {
		t.Run(w.String(), func(t *testing.T) {
			const limit, goroutines = 2000, 16
			log := &batchLog{key: keyOf(t)}
			s := newStore(t, redisstore.WithBatchHook(log.hook))

			type result struct {
				cost int
				d    zohoquota.Decision
			}
			var (
				mu   sync.Mutex
				got  []result
				errs atomic.Int64
			)
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for most := 10; most >= 1; {
						cost := 1 + rand.IntN(most)
						d, err := s.Take(ctx, log.key, cost, limit, w, time.Now())
						if err != nil {
							errs.Add(1)
							t.Error(err)
							return
						}
						mu.Lock()
						got = append(got, result{cost, d})
						mu.Unlock()
						if !d.OK {
							most = cost - 1
						}
					}
				})
			}
			wg.Wait()
			if errs.Load() > 0 {
				t.FailNow()
			}

			mem := zohoquota.NewMemoryStore()
			var want []result
			var takes, admitted, biggest int
			for _, b := range log.batches {
				biggest = max(biggest, len(b.costs))
				for i, cost := range b.costs {
					d := b.ds[i]
					m, _ := mem.Take(ctx, "k", cost, limit, w, d.At)
					if m.OK != d.OK || m.Cost != d.Cost || m.Used != d.Used || !m.At.Equal(d.At) || !m.ResetAt.Equal(d.ResetAt) {
						t.Fatalf("take %d (cost %d, %d in its call): redis decided %+v, the memory store %+v", takes, cost, len(b.costs), d, m)
					}
					if d.OK {
						admitted += cost
					}
					if i > 0 && !d.At.Equal(b.ds[0].At) {
						t.Errorf("one call decided at %v and %v", b.ds[0].At, d.At)
					}
					want = append(want, result{cost, d})
					takes++
				}
			}
			t.Logf("%d takes in %d calls, at most %d in one; %d units admitted", takes, len(log.batches), biggest, admitted)
			if len(got) != takes {
				t.Fatalf("callers got %d decisions, the calls carried %d", len(got), takes)
			}
			if admitted != limit {
				t.Fatalf("admitted %d, want the whole budget %d", admitted, limit)
			}
			if biggest < 2 {
				t.Fatalf("no call carried more than one take")
			}
			// Each caller got the decision of its own take: the same multiset.
			key := func(r result) string {
				return fmt.Sprintf("%d %+v %d %d", r.cost, r.d, r.d.At.UnixMicro(), r.d.ResetAt.UnixMicro())
			}
			gotKeys, wantKeys := make([]string, len(got)), make([]string, len(want))
			for i := range got {
				gotKeys[i], wantKeys[i] = key(got[i]), key(want[i])
			}
			slices.Sort(gotKeys)
			slices.Sort(wantKeys)
			if !slices.Equal(gotKeys, wantKeys) {
				t.Fatalf("the callers' decisions differ from those the calls answered")
			}
			u, err := s.Usage(ctx, log.key, limit, w, time.Now())
			if err != nil || u.Used != limit {
				t.Fatalf("Usage = %+v, %v; want %d used", u, err, limit)
			}
		})
	}
}

// gateHook holds every EVALSHA, while armed, until the test lets it go.
type gateHook struct {
	armed   atomic.Bool
	entered chan struct{}
	gate    chan struct{}
}

func (h *gateHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "evalsha" && h.armed.Load() {
			h.entered <- struct{}{}
			<-h.gate
		}
		return next(ctx, cmd)
	}
}
func (h *gateHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestTakeCanceled: a Take canceled while queued behind a call in flight returns
// its ctx's error and spends nothing; one canceled while its call is in flight
// gets its decision. The ledger holds exactly what the decisions admitted.
func TestTakeCanceled(t *testing.T) {
	c := client(t)
	h := &gateHook{entered: make(chan struct{}), gate: make(chan struct{})}
	c.AddHook(h)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(time.Hour)} {
		t.Run(w.String(), func(t *testing.T) {
			const limit = 100
			log := &batchLog{key: keyOf(t)}
			s := redisstore.NewFromClient(c, redisstore.WithBatchHook(log.hook))
			if _, err := s.Usage(ctx, log.key, limit, w, time.Now()); err != nil { // load the script
				t.Fatal(err)
			}
			h.armed.Store(true)
			defer h.armed.Store(false)

			type result struct {
				d   zohoquota.Decision
				err error
			}
			first := make(chan result, 1)
			go func() {
				d, err := s.Take(ctx, log.key, 1, limit, w, time.Now())
				first <- result{d, err}
			}()
			<-h.entered // the first take is in flight

			const n = 6
			var cancels [n]context.CancelFunc
			var results [n]chan result
			for i := range n {
				tctx, cancel := context.WithCancel(ctx)
				cancels[i], results[i] = cancel, make(chan result, 1)
				go func() {
					d, err := s.Take(tctx, log.key, 10+i, limit, w, time.Now())
					results[i] <- result{d, err}
				}()
				waitFor(t, func() bool { return redisstore.QueuedTakes(s) == i+1 })
			}
			// Cancel the first three while they wait, the next leader among them.
			for i := range 3 {
				cancels[i]()
				if r := <-results[i]; !errors.Is(r.err, context.Canceled) || r.d != (zohoquota.Decision{}) {
					t.Fatalf("take %d canceled while queued = %+v, %v; want context.Canceled", i, r.d, r.err)
				}
			}
			if q := redisstore.QueuedTakes(s); q != 3 {
				t.Fatalf("%d takes queued after three were canceled, want 3", q)
			}

			h.gate <- struct{}{} // the first call answers
			if r := <-first; r.err != nil || !r.d.OK || r.d.Used != 1 {
				t.Fatalf("first take = %+v, %v", r.d, r.err)
			}
			<-h.entered // the other three are in flight, in one call
			for i := 3; i < n; i++ {
				cancels[i]()
			}
			time.Sleep(20 * time.Millisecond) // let a wrong Take return early
			for i := 3; i < n; i++ {
				select {
				case r := <-results[i]:
					t.Fatalf("take %d returned %+v, %v while its call was in flight", i, r.d, r.err)
				default:
				}
			}
			h.gate <- struct{}{}
			admitted := 1
			for i := 3; i < n; i++ {
				r := <-results[i]
				if r.err != nil || !r.d.OK || r.d.Cost != 10+i {
					t.Fatalf("take %d canceled in flight = %+v, %v; want its admission", i, r.d, r.err)
				}
				admitted += r.d.Cost
			}
			h.armed.Store(false)

			if len(log.batches) != 2 || !slices.Equal(log.batches[1].costs, []int{13, 14, 15}) {
				t.Fatalf("calls %+v, want [1] and [13 14 15]", log.batches)
			}
			u, err := s.Usage(ctx, log.key, limit, w, time.Now())
			if err != nil || u.Used != admitted {
				t.Fatalf("Usage = %+v, %v; want the %d units admitted", u, err, admitted)
			}
			if q := redisstore.QueuedTakes(s); q != 0 {
				t.Fatalf("%d takes still queued", q)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

// TestCoalescedCommandStats: under sixteen goroutines there are fewer EVALSHAs
// than admissions, and nothing else is sent; the ledger counts every admission.
func TestCoalescedCommandStats(t *testing.T) {
	c := client(t)
	for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
		t.Run(w.String(), func(t *testing.T) {
			const goroutines, each, limit = 16, 200, 1_000_000
			s := redisstore.NewFromClient(c)
			key := keyOf(t)
			if _, err := s.Take(ctx, key, 1, limit, w, time.Now()); err != nil { // load the script
				t.Fatal(err)
			}
			if err := c.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range each {
						if d, err := s.Take(ctx, key, 1, limit, w, time.Now()); err != nil || !d.OK {
							t.Errorf("Take = %+v, %v", d, err)
							return
						}
					}
				})
			}
			wg.Wait()
			st := commandStats(t, c)
			n := goroutines * each
			t.Logf("%d admissions: evalsha %d (%.2f takes per call)", n, st["evalsha"], float64(n)/float64(st["evalsha"]))
			if st["evalsha"] >= n || st["evalsha"] < 1 || st["eval"] != 0 {
				t.Fatalf("evalsha %d, eval %d for %d admissions; want fewer calls than admissions", st["evalsha"], st["eval"], n)
			}
			u, err := s.Usage(ctx, key, limit, w, time.Now())
			if err != nil || u.Used != n+1 {
				t.Fatalf("Usage = %+v, %v; want %d used", u, err, n+1)
			}
		})
	}
}

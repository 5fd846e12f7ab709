package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/redisstore"
)

// The multi-process tests re-execute the test binary as workers: TestWorker runs
// only in a process started with workerEnv set, and reads its orders from the
// environment.
const (
	workerEnv    = "ZOHOQUOTA_REDISSTORE_WORKER" // quota | hold | wait
	socketEnv    = "ZOHOQUOTA_REDISSTORE_SOCKET"
	keyEnv       = "ZOHOQUOTA_REDISSTORE_KEY"
	windowEnv    = "ZOHOQUOTA_REDISSTORE_WINDOW" // daily | rolling
	resultPrefix = "ZQRESULT "
)

const (
	workerProcs      = 4
	workerGoroutines = 16
	sharedCap        = 5000
	leaseTTL         = time.Second
)

func TestWorker(t *testing.T) {
	mode := os.Getenv(workerEnv)
	if mode == "" {
		t.Skip("runs only as a worker process of the multi-process tests")
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: os.Getenv(socketEnv)})
	defer c.Close()
	s := redisstore.NewFromClient(c, redisstore.WithLeaseTTL(leaseTTL))
	key := zohoquota.WithKey(os.Getenv(keyEnv))
	switch mode {
	case "quota":
		w := zohoquota.Daily(zohoquota.PST)
		if os.Getenv(windowEnv) == "rolling" {
			w = zohoquota.Rolling(time.Hour)
		}
		l, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: sharedCap, Window: w}, zohoquota.WithStore(s), key)
		if err != nil {
			t.Fatal(err)
		}
		admitted, takes, failures := hammer(l)
		fmt.Printf("%sadmitted=%d takes=%d errors=%d\n", resultPrefix, admitted, takes, failures)
	case "hold", "wait":
		q := zohoquota.Quota{Limit: 1_000_000, Window: zohoquota.Rolling(time.Hour), Concurrency: 4}
		l, err := zohoquota.NewLimiter(q, zohoquota.WithStore(s), key, zohoquota.WithSlotPoll(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p, err := l.AcquirePermit(ctx, 1, 4)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		fmt.Printf("%sheld at=%d\n", resultPrefix, time.Now().UnixNano())
		if mode == "hold" {
			time.Sleep(time.Minute) // until killed
		}
	}
}

// hammer spends l's budget from workerGoroutines goroutines with random costs of
// 1 to 10. A goroutine refused a cost tries smaller ones, and stops when refused a
// single unit: then the budget is spent to the last unit.
func hammer(l *zohoquota.Limiter) (admitted, takes, failures int64) {
	var a, n, f atomic.Int64
	var wg sync.WaitGroup
	for range workerGoroutines {
		wg.Go(func() {
			most := 10
			for most >= 1 {
				cost := 1 + rand.IntN(most)
				// A deadline makes WaitN refuse at once, since the units would free
				// up only after it; store errors come back as other errors.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := l.WaitN(ctx, cost)
				cancel()
				n.Add(1)
				switch {
				case err == nil:
					a.Add(int64(cost))
				case errors.Is(err, zohoquota.ErrQuotaExhausted):
					most = cost - 1
				default:
					f.Add(1)
					fmt.Fprintln(os.Stderr, "worker:", err)
					return
				}
			}
		})
	}
	wg.Wait()
	return a.Load(), n.Load(), f.Load()
}

// worker is a running worker process.
type worker struct {
	cmd   *exec.Cmd
	lines chan string // its result lines, closed when it exits
}

func startWorker(t *testing.T, mode, key, window string) *worker {
	t.Helper()
	s := srv
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(), workerEnv+"="+mode, socketEnv+"="+s.Socket, keyEnv+"="+key, windowEnv+"="+window)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, lines: make(chan string, 16)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
				w.lines <- line
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range w.lines {
		}
		_ = cmd.Wait()
	})
	return w
}

// result waits for the worker's next result line and parses its key=value pairs.
func (w *worker) result(t *testing.T, timeout time.Duration) map[string]int64 {
	t.Helper()
	select {
	case line, ok := <-w.lines:
		if !ok {
			t.Fatalf("worker %d exited without a result", w.cmd.Process.Pid)
		}
		res := make(map[string]int64)
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("worker result %q: %v", line, err)
			}
			res[k] = n
		}
		return res
	case <-time.After(timeout):
		t.Fatalf("worker %d: no result within %v", w.cmd.Process.Pid, timeout)
		return nil
	}
}

// TestMultiProcessExactCap: four processes of sixteen goroutines each spend one
// budget of 5,000 units; together they are admitted exactly 5,000.
func TestMultiProcessExactCap(t *testing.T) {
	c := client(t)
	for _, window := range []string{"daily", "rolling"} {
		t.Run(window, func(t *testing.T) {
			key := keyOf(t)
			var workers []*worker
			for range workerProcs {
				workers = append(workers, startWorker(t, "quota", key, window))
			}
			var total, takes int64
			for i, w := range workers {
				r := w.result(t, 2*time.Minute)
				if r["errors"] != 0 {
					t.Errorf("worker %d: %d store errors", i, r["errors"])
				}
				t.Logf("worker %d: admitted %d units in %d takes", i, r["admitted"], r["takes"])
				total += r["admitted"]
				takes += r["takes"]
			}
			w := zohoquota.Daily(zohoquota.PST)
			if window == "rolling" {
				w = zohoquota.Rolling(time.Hour)
			}
			u, err := redisstore.NewFromClient(c).Usage(ctx, key, sharedCap, w, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("total admitted %d of %d in %d takes; ledger used %d; over-admissions %d", total, sharedCap, takes, u.Used, max(0, total-sharedCap))
			if total != sharedCap || u.Used != sharedCap {
				t.Fatalf("admitted %d, ledger used %d; want exactly %d", total, u.Used, sharedCap)
			}
		})
	}
}

// TestMultiProcessKilledHolder: a worker holding every concurrency slot is killed
// with SIGKILL; another worker waiting for them gets them within the lease TTL.
func TestMultiProcessKilledHolder(t *testing.T) {
	c := client(t)
	key := keyOf(t)
	holder := startWorker(t, "hold", key, "")
	holder.result(t, 30*time.Second)

	// The holder renews its lease: two TTLs later its slots are still held.
	time.Sleep(2 * leaseTTL)
	s := redisstore.NewFromClient(c, redisstore.WithLeaseTTL(leaseTTL))
	if n, err := s.SlotsInUse(ctx, key, time.Now()); err != nil || n != 4 {
		t.Fatalf("SlotsInUse with the holder alive = %d, %v; want 4", n, err)
	}
	waiter := startWorker(t, "wait", key, "")
	time.Sleep(200 * time.Millisecond) // the waiter is polling
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	r := waiter.result(t, 10*time.Second)
	got := time.Unix(0, r["at"]).Sub(killed)
	t.Logf("slots of the killed worker taken by the waiter %v after SIGKILL (lease TTL %v)", got, leaseTTL)
	// The lease was renewed at most a third of a TTL before the kill; allow the
	// waiter's poll interval and scheduling on top.
	if got > leaseTTL+400*time.Millisecond {
		t.Fatalf("waiter got the slots %v after the kill, want within the TTL %v", got, leaseTTL)
	}
}

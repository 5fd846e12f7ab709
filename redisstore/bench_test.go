package redisstore_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/redistest"
	"github.com/zohoquota/zohoquota/redisstore"
)

// BenchmarkAdmission measures one admission through the Redis store against a
// bare INCR round trip on the same connection kind, in the same run, with one and
// with sixteen goroutines. Each result reports the commands Redis counted per
// operation (INFO commandstats): at most one evalsha per admission, fewer when
// concurrent Takes share a call.
//
//	go test -run '^$' -bench Admission -benchtime 3s ./redisstore/
func BenchmarkAdmission(b *testing.B) {
	s := redistest.Require(b, srv, srvErr)
	const limit = 1 << 50
	conns := []struct {
		name string
		opt  *redis.Options
	}{
		{"unix", &redis.Options{Network: "unix", Addr: s.Socket}},
		{"tcp", &redis.Options{Network: "tcp", Addr: s.Addr}},
	}
	for _, conn := range conns {
		c := redis.NewClient(conn.opt)
		store := redisstore.NewFromClient(c)
		limiter, err := zohoquota.NewLimiter(zohoquota.Quota{Limit: limit, Window: zohoquota.Daily(zohoquota.PST)},
			zohoquota.WithStore(store), zohoquota.WithKey("bench-limiter"))
		if err != nil {
			b.Fatal(err)
		}
		ops := []struct {
			name  string
			count string // the command counted per operation
			op    func(context.Context) error
		}{
			{"incr", "incr", func(ctx context.Context) error { return c.Incr(ctx, "bench-incr").Err() }},
			{"daily", "evalsha", func(ctx context.Context) error {
				_, err := store.Take(ctx, "bench-daily", 1, limit, zohoquota.Daily(zohoquota.PST), time.Time{})
				return err
			}},
			{"rolling", "evalsha", func(ctx context.Context) error {
				_, err := store.Take(ctx, "bench-rolling", 1, limit, zohoquota.Rolling(24*time.Hour), time.Time{})
				return err
			}},
			{"limiter", "evalsha", func(ctx context.Context) error {
				if !limiter.AllowN(1) {
					return fmt.Errorf("refused")
				}
				return nil
			}},
		}
		for _, g := range []int{1, 16} {
			for _, op := range ops {
				b.Run(fmt.Sprintf("%s/g%d/%s", conn.name, g, op.name), func(b *testing.B) {
					benchOp(b, c, g, op.count, op.op)
				})
			}
		}
		c.Close()
	}
}

// BenchmarkAdmissionVsINCR interleaves an admission and a bare INCR in every
// iteration, on the same client, and times each: on a busy machine the load then
// weighs on both alike, and the ratio holds where BenchmarkAdmission's separate
// runs drift. It reports take-ns and incr-ns per operation and their ratio.
//
//	go test -run '^$' -bench AdmissionVsINCR -count 5 ./redisstore/
func BenchmarkAdmissionVsINCR(b *testing.B) {
	s := redistest.Require(b, srv, srvErr)
	const limit = 1 << 50
	for _, conn := range []struct {
		name string
		opt  *redis.Options
	}{
		{"unix", &redis.Options{Network: "unix", Addr: s.Socket}},
		{"tcp", &redis.Options{Network: "tcp", Addr: s.Addr}},
	} {
		c := redis.NewClient(conn.opt)
		store := redisstore.NewFromClient(c)
		for _, g := range []int{1, 16} {
			for _, w := range []zohoquota.Window{zohoquota.Daily(zohoquota.PST), zohoquota.Rolling(24 * time.Hour)} {
				name := "daily"
				if w.IsRolling() {
					name = "rolling"
				}
				b.Run(fmt.Sprintf("%s/g%d/%s", conn.name, g, name), func(b *testing.B) {
					ctx := context.Background()
					var takeNs, incrNs atomic.Int64
					pair := func() error {
						t0 := time.Now()
						if _, err := store.Take(ctx, "bench-pair-"+name, 1, limit, w, t0); err != nil {
							return err
						}
						t1 := time.Now()
						if err := c.Incr(ctx, "bench-pair-incr").Err(); err != nil {
							return err
						}
						takeNs.Add(int64(t1.Sub(t0)))
						incrNs.Add(int64(time.Since(t1)))
						return nil
					}
					if err := pair(); err != nil {
						b.Fatal(err)
					}
					takeNs.Store(0)
					incrNs.Store(0)
					_ = c.ConfigResetStat(ctx).Err()
					b.ResetTimer()
					if g == 1 {
						for b.Loop() {
							if err := pair(); err != nil {
								b.Fatal(err)
							}
						}
					} else {
						b.SetParallelism((g + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if err := pair(); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					b.StopTimer()
					st := commandStats(b, c)
					take, incr := float64(takeNs.Load())/float64(b.N), float64(incrNs.Load())/float64(b.N)
					b.ReportMetric(take, "take-ns")
					b.ReportMetric(incr, "incr-ns")
					b.ReportMetric(take/incr, "ratio")
					b.ReportMetric(float64(st["evalsha"])/float64(b.N), "evalsha/op")
				})
			}
		}
		c.Close()
	}
}

func benchOp(b *testing.B, c *redis.Client, goroutines int, count string, op func(context.Context) error) {
	ctx := context.Background()
	if err := op(ctx); err != nil { // load the script, open a connection
		b.Fatal(err)
	}
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if goroutines == 1 {
		for b.Loop() {
			if err := op(ctx); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	st := commandStats(b, c)
	b.ReportMetric(float64(st[count])/float64(b.N), count+"/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

package zohoquota

import (
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// The limiter and x/time/rate are benchmarked side by side on comparable budgets:
// a limit so large that every call is admitted, so both measure their admission path.

func benchQuota() Quota { return Quota{Limit: 1 << 62, Window: Rolling(24 * time.Hour)} }

func BenchmarkLimiterAllow(b *testing.B) {
	l, err := NewLimiter(benchQuota())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !l.Allow() {
			b.Fatal("refused")
		}
	}
}

func BenchmarkXRateAllow(b *testing.B) {
	l := rate.NewLimiter(rate.Limit(1<<40), 1<<40)
	b.ReportAllocs()
	for b.Loop() {
		if !l.AllowN(time.Now(), 1) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkLimiterAllowDaily(b *testing.B) {
	l, err := NewLimiter(Quota{Limit: 1 << 62, Window: Daily(Pacific())})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !l.Allow() {
			b.Fatal("refused")
		}
	}
}

func BenchmarkLimiterAllowParallel(b *testing.B) {
	l, err := NewLimiter(benchQuota())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !l.Allow() {
				b.Error("refused")
				return
			}
		}
	})
}

func BenchmarkXRateAllowParallel(b *testing.B) {
	l := rate.NewLimiter(rate.Limit(1<<40), 1<<40)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !l.AllowN(time.Now(), 1) {
				b.Error("refused")
				return
			}
		}
	})
}

func BenchmarkLimiterAcquire(b *testing.B) {
	q := benchQuota()
	q.Concurrency = 25
	l, err := NewLimiter(q)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		release, err := l.Acquire(b.Context(), 1)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}

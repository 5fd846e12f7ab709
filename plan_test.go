package zohoquota

import (
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wantWindow is a window as tests state it: its start, its length and what goes in.
type wantWindow struct {
	start    time.Time
	length   time.Duration
	records  int
	requests int
	units    int
}

func checkPlan(t *testing.T, p Plan, finish time.Time, want []wantWindow) {
	t.Helper()
	assert.True(t, p.Finish.Equal(finish), "Finish = %v, want %v", p.Finish, finish)
	require.Len(t, p.Windows, len(want), "windows: %+v", p.Windows)
	records, requests, units := 0, 0, 0
	for i, w := range want {
		got := p.Windows[i]
		assert.True(t, got.Start.Equal(w.start), "window %d starts %v, want %v", i, got.Start, w.start)
		assert.Equal(t, w.length, got.End.Sub(got.Start), "window %d length", i)
		assert.Equal(t, w.records, got.Records, "window %d records", i)
		assert.Equal(t, w.requests, got.Requests, "window %d requests", i)
		assert.Equal(t, w.units, got.Units, "window %d units", i)
		records += got.Records
		requests += got.Requests
		units += got.Units
	}
	assert.Equal(t, p.Records, records, "records over the windows")
	assert.Equal(t, p.Requests, requests, "requests over the windows")
	assert.Equal(t, p.Units, units, "units over the windows")
}

func mustQuota(t *testing.T) func(Quota, error) Quota {
	return func(q Quota, err error) Quota {
		t.Helper()
		require.NoError(t, err)
		return q
	}
}

// The v1 document's worked example: 10 licenses at 250 = 2,500 requests a day, at
// 100 records a write = 250,000 records a day.
func TestPlanWorkedExample(t *testing.T) {
	q := mustQuota(t)(V1Quota(Standard, 10))
	start := time.Date(2025, 1, 15, 0, 0, 0, 0, PST)
	p, err := NewPlan(PlanInput{Op: Write, Records: 250_000, Quota: q, Start: start})
	require.NoError(t, err)
	assert.Equal(t, 2_500, p.Limit)
	assert.Equal(t, 250_000, p.RecordsPerWindow)
	assert.Equal(t, 2_500, p.Requests)
	assert.Equal(t, 2_500, p.Units)
	assert.Equal(t, 25_000, p.Credits)
	assert.False(t, p.Rolling)
	checkPlan(t, p, start, []wantWindow{{start, 24 * time.Hour, 250_000, 2_500, 2_500}})
}

func TestPlanDaily(t *testing.T) {
	std10 := mustQuota(t)(V1Quota(Standard, 10))
	pro10 := mustQuota(t)(V1Quota(Professional, 10))
	jan15 := time.Date(2025, 1, 15, 0, 0, 0, 0, PST)
	day := func(n int) time.Time { return jan15.AddDate(0, 0, n) }
	late := time.Date(2025, 1, 15, 23, 30, 0, 0, PST)
	tests := []struct {
		name   string
		in     PlanInput
		finish time.Time
		want   []wantWindow
	}{
		{
			name:   "starts at 23:30 PST: half an hour, then a whole day",
			in:     PlanInput{Op: Write, Records: 500_000, Quota: std10, Start: late},
			finish: day(1),
			want: []wantWindow{
				{late, 30 * time.Minute, 250_000, 2_500, 2_500},
				{day(1), 24 * time.Hour, 250_000, 2_500, 2_500},
			},
		},
		{
			name:   "2,000 requests already used today",
			in:     PlanInput{Op: Write, Records: 250_000, Quota: std10, Start: jan15.Add(9 * time.Hour), Used: 2_000},
			finish: day(1),
			want: []wantWindow{
				{jan15.Add(9 * time.Hour), 15 * time.Hour, 50_000, 500, 500},
				{day(1), 24 * time.Hour, 200_000, 2_000, 2_000},
			},
		},
		{
			name:   "quota already spent today",
			in:     PlanInput{Op: Write, Records: 100, Quota: std10, Start: jan15, Used: 9_999},
			finish: day(1),
			want: []wantWindow{
				{jan15, 24 * time.Hour, 0, 0, 0},
				{day(1), 24 * time.Hour, 100, 1, 1},
			},
		},
		{
			name:   "a last partial batch spills into the next day",
			in:     PlanInput{Op: Write, Records: 250_050, Quota: std10, Start: jan15},
			finish: day(1),
			want: []wantWindow{
				{jan15, 24 * time.Hour, 250_000, 2_500, 2_500},
				{day(1), 24 * time.Hour, 50, 1, 1},
			},
		},
		{
			name:   "reads: 200 a request, Professional floor of 3,000",
			in:     PlanInput{Op: Read, Records: 1_000_000, Quota: pro10, Start: jan15},
			finish: day(1),
			want: []wantWindow{
				{jan15, 24 * time.Hour, 600_000, 3_000, 3_000},
				{day(1), 24 * time.Hour, 400_000, 2_000, 2_000},
			},
		},
		{
			name:   "smaller batches",
			in:     PlanInput{Op: Write, Records: 100_000, Quota: std10, Start: jan15, BatchSize: 50},
			finish: jan15,
			want:   []wantWindow{{jan15, 24 * time.Hour, 100_000, 2_000, 2_000}},
		},
		{
			name:   "credit cost on a daily quota",
			in:     PlanInput{Op: Write, Records: 2_550, Quota: Quota{Limit: 100, Window: Daily(PST)}, Start: jan15, Cost: func(n int) int { return RequestCredits(Write, n) }},
			finish: day(2),
			want: []wantWindow{
				{jan15, 24 * time.Hour, 1_000, 10, 100},
				{day(1), 24 * time.Hour, 1_000, 10, 100},
				{day(2), 24 * time.Hour, 550, 6, 55},
			},
		},
		{
			name:   "no records",
			in:     PlanInput{Op: Write, Records: 0, Quota: std10, Start: jan15},
			finish: jan15,
			want:   []wantWindow{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.in)
			require.NoError(t, err)
			checkPlan(t, p, tt.finish, tt.want)
		})
	}
}

// Pacific days are 23 and 25 hours long at the daylight saving changes; the plan's
// windows follow the calendar, never +24h.
func TestPlanAcrossDST(t *testing.T) {
	pac := Pacific()
	q := Quota{Limit: 2_500, Window: Daily(pac)}
	tests := []struct {
		name   string
		start  time.Time
		lenths []time.Duration
	}{
		{"spring forward", time.Date(2025, 3, 8, 12, 0, 0, 0, pac), []time.Duration{12 * time.Hour, 23 * time.Hour, 24 * time.Hour}},
		{"fall back", time.Date(2025, 11, 1, 12, 0, 0, 0, pac), []time.Duration{12 * time.Hour, 25 * time.Hour, 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(PlanInput{Op: Write, Records: 750_000, Quota: q, Start: tt.start})
			require.NoError(t, err)
			require.Len(t, p.Windows, 3)
			for i, w := range p.Windows {
				assert.Equal(t, tt.lenths[i], w.End.Sub(w.Start), "window %d", i)
				assert.Equal(t, 250_000, w.Records, "window %d", i)
				if i > 0 {
					h, m, _ := w.Start.In(pac).Clock()
					assert.Equal(t, [2]int{0, 0}, [2]int{h, m}, "window %d starts at 00:00 Pacific", i)
				}
			}
			assert.True(t, p.Finish.Equal(p.Windows[2].Start))
		})
	}
}

func TestPlanRolling(t *testing.T) {
	pro10 := mustQuota(t)(CreditQuota(Professional, 10, 0)) // 55,000 credits
	start := time.Date(2025, 1, 15, 10, 0, 0, 0, PST)
	h := func(n int) time.Time { return start.Add(time.Duration(n) * time.Hour) }
	const day = 24 * time.Hour
	// Units spent in the minute bucket [m, m+1min) free at m+1min+24h, as the ledger
	// frees them: a request at 10:00:00 is back at 10:01:00 the next day.
	const bucket = time.Minute
	tests := []struct {
		name   string
		in     PlanInput
		finish time.Time
		want   []wantWindow
	}{
		{
			name:   "1,000,000 writes at 10 credits a batch",
			in:     PlanInput{Op: Write, Records: 1_000_000, Quota: pro10, Start: start},
			finish: h(24).Add(bucket),
			want: []wantWindow{
				{start, day, 550_000, 5_500, 55_000},
				{h(24), day, 450_000, 4_500, 45_000},
			},
		},
		{
			name: "credits spent 12 h ago come back half-way through",
			in: PlanInput{Op: Write, Records: 1_000_000, Quota: pro10, Start: start,
				Spent: []Spent{{At: h(-12), Units: 50_000}, {At: h(-30), Units: 7}}},
			finish: h(36).Add(2 * bucket), // own spending at 22:01 (old credits back), back at 22:02
			want: []wantWindow{
				{start, day, 550_000, 5_500, 55_000},
				{h(24), day, 450_000, 4_500, 45_000},
			},
		},
		{
			name:   "used without a schedule frees a whole window later",
			in:     PlanInput{Op: Write, Records: 1_000_000, Quota: pro10, Start: start, Used: 55_000},
			finish: h(48).Add(2 * bucket),
			want: []wantWindow{
				{start, day, 0, 0, 0},
				{h(24), day, 550_000, 5_500, 55_000},
				{h(48), day, 450_000, 4_500, 45_000},
			},
		},
		{
			name:   "a partial last batch costs its own credits",
			in:     PlanInput{Op: Write, Records: 1_234, Quota: pro10, Start: start},
			finish: start,
			want:   []wantWindow{{start, day, 1_234, 13, 124}},
		},
		{
			name:   "reads cost one credit a request",
			in:     PlanInput{Op: Read, Records: 20_000_000, Quota: pro10, Start: start},
			finish: h(24).Add(bucket),
			want: []wantWindow{
				{start, day, 11_000_000, 55_000, 55_000},
				{h(24), day, 9_000_000, 45_000, 45_000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPlan(tt.in)
			require.NoError(t, err)
			assert.True(t, p.Rolling)
			checkPlan(t, p, tt.finish, tt.want)
		})
	}
}

// Units spent off a bucket boundary come back at the end of their bucket, as the
// ledger frees them: late, never early.
func TestPlanRollingBucketRounding(t *testing.T) {
	q := Quota{Limit: 10, Window: Rolling(24 * time.Hour)}
	start := time.Date(2025, 1, 15, 10, 0, 30, 0, PST)
	p, err := NewPlan(PlanInput{Op: Write, Records: 200, Quota: q, Start: start})
	require.NoError(t, err)
	assert.True(t, p.Finish.Equal(start.Add(24*time.Hour+30*time.Second)), "Finish = %v", p.Finish)
}

func TestPlanErrors(t *testing.T) {
	q := mustQuota(t)(V1Quota(Standard, 10))
	start := time.Date(2025, 1, 15, 0, 0, 0, 0, PST)
	rolling := Quota{Limit: 100, Window: Rolling(24 * time.Hour)}
	tests := []struct {
		name string
		in   PlanInput
		want error
	}{
		{"negative records", PlanInput{Op: Write, Records: -1, Quota: q, Start: start}, ErrInvalidPlan},
		{"no op", PlanInput{Records: 1, Quota: q, Start: start}, ErrInvalidBatch},
		{"write batch of 101", PlanInput{Op: Write, Records: 1, Quota: q, Start: start, BatchSize: 101}, ErrInvalidBatch},
		{"negative batch", PlanInput{Op: Write, Records: 1, Quota: q, Start: start, BatchSize: -1}, ErrInvalidBatch},
		{"no quota", PlanInput{Op: Write, Records: 1, Start: start}, ErrInvalidPlan},
		{"negative used", PlanInput{Op: Write, Records: 1, Quota: q, Start: start, Used: -1}, ErrInvalidPlan},
		{"free requests", PlanInput{Op: Write, Records: 1, Quota: q, Start: start, Cost: func(int) int { return 0 }}, ErrInvalidPlan},
		{"cost above the limit", PlanInput{Op: Write, Records: 1, Quota: q, Start: start, Cost: func(int) int { return 2_501 }}, ErrCostAboveLimit},
		{"spent in the future", PlanInput{Op: Write, Records: 1, Quota: rolling, Start: start, Spent: []Spent{{At: start.Add(time.Second), Units: 1}}}, ErrInvalidPlan},
		{"negative spent", PlanInput{Op: Write, Records: 1, Quota: rolling, Start: start, Spent: []Spent{{At: start, Units: -1}}}, ErrInvalidPlan},
		{"start before 1970", PlanInput{Op: Write, Records: 1, Quota: q, Start: time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)}, ErrInvalidPlan},
		{"start after 2200", PlanInput{Op: Write, Records: 1, Quota: q, Start: time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalidPlan},
		{"rolling start where nanoseconds overflow", PlanInput{Op: Write, Records: 200_000, Quota: rolling, Start: time.Date(2262, 4, 10, 0, 0, 0, 0, time.UTC)}, ErrInvalidPlan},
		{"rolling past 2262", PlanInput{Op: Read, Records: 70 * 366 * 200 * 100, Quota: rolling, Start: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalidPlan},
		{"longer than a century", PlanInput{Op: Write, Records: math.MaxInt, Quota: q, Start: start}, ErrInvalidPlan},
		{"rolling longer than a century", PlanInput{Op: Read, Records: math.MaxInt / 2, Quota: rolling, Start: start}, ErrInvalidPlan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(tt.in)
			require.ErrorIs(t, err, tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "zohoquota: plan"), "%q", err)
			if tt.want != ErrCostAboveLimit { // its text, in errors.go, has a prefix of its own
				require.ErrorIs(t, err, ErrInvalidPlan)
				assert.Equal(t, 1, strings.Count(err.Error(), "zohoquota: "), "%q", err)
			}
		})
	}
}

// An error about the op reads once, and is still an ErrInvalidBatch.
func TestPlanErrorReadsOnce(t *testing.T) {
	_, err := NewPlan(PlanInput{Records: 10, Quota: Quota{Limit: 100}, Start: time.Unix(0, 0)})
	require.ErrorIs(t, err, ErrInvalidPlan)
	require.ErrorIs(t, err, ErrInvalidBatch)
	assert.EqualError(t, err, "zohoquota: plan: op Op(0): need read or write: invalid plan")

	_, err = NewPlan(PlanInput{Op: Write, Records: 10, Start: time.Unix(0, 0)})
	assert.EqualError(t, err, "zohoquota: plan: quota limit 0: need at least 1: invalid plan")
}

// The last supported start still plans with the right dates.
func TestPlanRollingLateStart(t *testing.T) {
	start := time.Date(MaxPlanYear, 12, 31, 0, 0, 0, 0, time.UTC)
	p, err := NewPlan(PlanInput{Op: Write, Records: 2_000, Quota: Quota{Limit: 100, Window: Rolling(24 * time.Hour)}, Start: start})
	require.NoError(t, err)
	assertAt(t, start.Add(24*time.Hour+time.Minute), p.Finish)
	assert.Equal(t, 2, p.Days())
}

func BenchmarkPlan1M(b *testing.B) {
	start := time.Date(2025, 1, 15, 23, 30, 0, 0, PST)
	v1, _ := V1Quota(Standard, 10)
	v8, _ := CreditQuota(Standard, 10, 0)
	for _, bc := range []struct {
		name string
		q    Quota
	}{{"v1-daily", v1}, {"v8-rolling", v8}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewPlan(PlanInput{Op: Write, Records: 1_000_000, Quota: bc.q, Start: start}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlanStartsNow: a PlanInput without a Start plans from now.
func TestPlanStartsNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, err := V1Quota(Standard, 10)
		require.NoError(t, err)
		p, err := NewPlan(PlanInput{Op: Write, Records: 300_000, Quota: q})
		require.NoError(t, err)
		assert.True(t, p.Start.Equal(time.Now()), "Start = %v, want now %v", p.Start, time.Now())
		require.NotEmpty(t, p.Windows)
		assert.True(t, p.Windows[0].Start.Equal(time.Now()))
		assert.Equal(t, 250_000, p.Windows[0].Records)
	})
}

// TestPlanHugeLimit: a limit near math.MaxInt saturates the plan's figures
// instead of wrapping them negative.
func TestPlanHugeLimit(t *testing.T) {
	q := Quota{Limit: math.MaxInt, Window: Rolling(24 * time.Hour)}
	for _, op := range []Op{Read, Write} {
		p, err := NewPlan(PlanInput{Op: op, Records: 1000, Quota: q, Start: time.Date(2026, 12, 3, 9, 0, 0, 0, PST)})
		require.NoError(t, err)
		assert.Equal(t, math.MaxInt, p.RecordsPerWindow, "%v", op)
		assert.Positive(t, p.Units, "%v", op)
	}
}

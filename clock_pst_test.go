package zohoquota

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNextReset(t *testing.T) {
	la := Pacific()
	tests := []struct {
		name string
		t    time.Time
		loc  *time.Location
		want time.Time
	}{
		{"PST noon", time.Date(2026, 6, 15, 12, 0, 0, 0, PST), PST, time.Date(2026, 6, 16, 0, 0, 0, 0, PST)},
		{"nil is PST", time.Date(2026, 6, 15, 12, 0, 0, 0, PST), nil, time.Date(2026, 6, 16, 0, 0, 0, 0, PST)},
		{"strictly after midnight", time.Date(2026, 6, 16, 0, 0, 0, 0, PST), PST, time.Date(2026, 6, 17, 0, 0, 0, 0, PST)},
		{"one ns before", time.Date(2026, 6, 15, 23, 59, 59, 999999999, PST), PST, time.Date(2026, 6, 16, 0, 0, 0, 0, PST)},
		{"fixed PST is 08:00 UTC in summer", time.Date(2026, 7, 1, 7, 59, 0, 0, time.UTC), PST, time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)},
		{"Pacific is 07:00 UTC in summer", time.Date(2026, 7, 1, 6, 59, 0, 0, time.UTC), la, time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC)},
		{"year end", time.Date(2026, 12, 31, 18, 0, 0, 0, PST), PST, time.Date(2027, 1, 1, 0, 0, 0, 0, PST)},
		{"leap day", time.Date(2028, 2, 28, 18, 0, 0, 0, PST), PST, time.Date(2028, 2, 29, 0, 0, 0, 0, PST)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextReset(tt.t, tt.loc)
			assert.True(t, got.Equal(tt.want), "NextReset(%v) = %v, want %v", tt.t, got, tt.want)
		})
	}
}

// Pacific days are 23 or 25 hours long twice a year; a reset computed with +24h
// would drift by an hour.
func TestPacificDSTDays(t *testing.T) {
	la := Pacific()
	tests := []struct {
		name string
		day  time.Time
		want time.Duration
	}{
		{"spring forward", time.Date(2026, 3, 8, 0, 0, 0, 0, la), 23 * time.Hour},
		{"fall back", time.Date(2026, 11, 1, 0, 0, 0, 0, la), 25 * time.Hour},
		{"ordinary day", time.Date(2026, 3, 9, 0, 0, 0, 0, la), 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextReset(tt.day, la).Sub(tt.day)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPacificZone(t *testing.T) {
	assert.Equal(t, "America/Los_Angeles", Pacific().String())
	name, off := time.Date(2026, 7, 1, 12, 0, 0, 0, Pacific()).Zone()
	assert.Equal(t, "PDT", name)
	assert.Equal(t, -7*3600, off)
	name, off = time.Date(2026, 7, 1, 12, 0, 0, 0, PST).Zone()
	assert.Equal(t, "PST", name)
	assert.Equal(t, -8*3600, off)
}

func TestWindowValidate(t *testing.T) {
	assert.NoError(t, Daily(nil).validate())
	assert.NoError(t, Rolling(24*time.Hour).validate())
	assert.ErrorContains(t, Window{Length: -time.Hour}.validate(), "need 0")
	assert.ErrorContains(t, Window{Length: time.Minute, Bucket: time.Hour}.validate(), "longer than the window")
	assert.ErrorContains(t, Window{Length: time.Hour, Bucket: 500 * time.Nanosecond}.validate(), "whole number of milliseconds")
	assert.ErrorContains(t, Window{Length: time.Hour, Bucket: 1500 * time.Microsecond}.validate(), "whole number of milliseconds")
	assert.NoError(t, Window{Length: time.Hour, Bucket: time.Millisecond}.validate())
	assert.Equal(t, "daily, reset 00:00 PST", Daily(nil).String())
	assert.Equal(t, "rolling 24h0m0s", Rolling(24*time.Hour).String())
}

// Where daylight saving skips midnight, the day starts when the clocks jump: never
// an hour early, and never before t.
func TestSkippedMidnight(t *testing.T) {
	tests := []struct {
		zone string
		last time.Time // a moment in the hour before the skipped midnight
		want string    // the next day's start, local
	}{
		{"America/Havana", time.Date(2026, 3, 7, 23, 30, 0, 0, time.UTC), "2026-03-08 01:00 CDT"},
		{"America/Santiago", time.Date(2026, 9, 5, 23, 30, 0, 0, time.UTC), "2026-09-06 01:00 -03"},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(tt.last.Year(), tt.last.Month(), tt.last.Day(), 23, 30, 0, 0, loc)
			got := NextReset(now, loc)
			assert.True(t, got.After(now), "NextReset(%v) = %v, not after it", now, got)
			assert.Equal(t, tt.want, got.In(loc).Format("2006-01-02 15:04 MST"))
			assert.Equal(t, 23*time.Hour, NextReset(got, loc).Sub(got), "the short day runs from 01:00 to midnight")

			// The limiter keeps one budget through that last hour.
			l, err := NewLimiter(Quota{Limit: 10, Window: Daily(loc)})
			if err != nil {
				t.Fatal(err)
			}
			admitted := 0
			for i := range 100 {
				if l.AllowNAt(now.Add(time.Duration(i)*time.Second), 10) {
					admitted += 10
				}
			}
			assert.Equal(t, 10, admitted)
		})
	}
}

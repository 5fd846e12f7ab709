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
	assert.Equal(t, "daily, reset 00:00 PST", Daily(nil).String())
	assert.Equal(t, "rolling 24h0m0s", Rolling(24*time.Hour).String())
}

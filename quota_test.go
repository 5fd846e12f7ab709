package zohoquota

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rows come from shared/reference/zoho-limits.md §1, including its worked checks.
func TestDailyRequestCap(t *testing.T) {
	tests := []struct {
		name     string
		e        Edition
		licenses int
		want     int
	}{
		{"free is flat", Free, 1, 1000},
		{"free with more users", Free, 3, 1000},
		{"standard floor", Standard, 1, 2000},
		{"standard floor edge", Standard, 8, 2000},
		{"standard just above floor", Standard, 9, 2250},
		{"standard worked example", Standard, 10, 2500},
		{"standard ceiling edge", Standard, 20, 5000},
		{"standard ceiling", Standard, 21, 5000},
		{"professional floor", Professional, 10, 3000},
		{"professional floor edge", Professional, 12, 3000},
		{"professional above floor", Professional, 13, 3250},
		{"professional 50", Professional, 50, 10000},
		{"professional ceiling", Professional, 1000, 10000},
		{"enterprise floor", Enterprise, 1, 4000},
		{"enterprise floor edge", Enterprise, 8, 4000},
		{"enterprise 10", Enterprise, 10, 5000},
		{"enterprise ceiling edge", Enterprise, 50, 25000},
		{"enterprise 100", Enterprise, 100, 25000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DailyRequestCap(tt.e, tt.licenses)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "DailyRequestCap(%v, %d) = %d, want %d", tt.e, tt.licenses, got, tt.want)
		})
	}
}

// The rows come from shared/reference/zoho-limits.md §2.
func TestCreditCap(t *testing.T) {
	tests := []struct {
		name             string
		e                Edition
		licenses, addOns int
		want             int
	}{
		{"free", Free, 1, 0, 5000},
		{"free ignores licenses", Free, 3, 0, 5000},
		{"free add-ons", Free, 1, 1000, 6000},
		{"standard 10", Standard, 10, 0, 52500},
		{"standard at max", Standard, 200, 0, 100000},
		{"standard over max", Standard, 201, 0, 100000},
		{"standard max plus add-ons", Standard, 500, 20000, 120000},
		{"professional 10", Professional, 10, 0, 55000},
		{"professional at max", Professional, 5900, 0, 3000000},
		{"professional over max", Professional, 6000, 0, 3000000},
		{"enterprise 10", Enterprise, 10, 0, 60000},
		{"enterprise at max", Enterprise, 4950, 0, 5000000},
		{"enterprise over max", Enterprise, 10000, 0, 5000000},
		{"ultimate 10", Ultimate, 10, 0, 70000},
		{"ultimate has no max", Ultimate, 10000, 0, 20050000},
		{"ultimate add-ons", Ultimate, 1, 500, 52500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CreditCap(tt.e, tt.licenses, tt.addOns)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "CreditCap(%v, %d, %d) = %d, want %d", tt.e, tt.licenses, tt.addOns, got, tt.want)
		})
	}
}

func TestCapErrors(t *testing.T) {
	tests := []struct {
		name    string
		call    func() (int, error)
		is      error
		message string
	}{
		{"zero licenses", func() (int, error) { return DailyRequestCap(Standard, 0) }, ErrInvalidLicenses, "need at least 1"},
		{"negative licenses", func() (int, error) { return CreditCap(Standard, -3, 0) }, ErrInvalidLicenses, "-3 licenses"},
		{"negative add-ons", func() (int, error) { return CreditCap(Standard, 3, -1) }, ErrInvalidAddOns, "-1 add-on credits: need 0 or more"},
		{"unknown edition v1", func() (int, error) { return DailyRequestCap(Edition(0), 5) }, ErrUnknownEdition, "allowed: free"},
		{"unknown edition v2", func() (int, error) { return CreditCap(Edition(42), 5, 0) }, ErrUnknownEdition, "Edition(42)"},
		{"ultimate had no v1 cap", func() (int, error) { return DailyRequestCap(Ultimate, 5) }, ErrNoV1Cap, "v1 editions: free, standard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			require.Error(t, err)
			assert.Zero(t, got)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.message)
		})
	}
}

func TestCapDoesNotOverflow(t *testing.T) {
	got, err := CreditCap(Ultimate, math.MaxInt/2, math.MaxInt)
	require.NoError(t, err)
	assert.Equal(t, math.MaxInt, got)
}

func TestTableOverride(t *testing.T) {
	tbl := DefaultTable()
	l := tbl[Professional]
	l.CreditMax = 1_000_000 // Kaizen #93's older ceiling
	tbl[Professional] = l
	got, err := tbl.CreditCap(Professional, 5000, 0)
	require.NoError(t, err)
	assert.Equal(t, 1_000_000, got)

	// The copy leaves the package's table alone.
	got, err = CreditCap(Professional, 5000, 0)
	require.NoError(t, err)
	assert.Equal(t, 2_550_000, got)
}

func TestQuotas(t *testing.T) {
	q, err := V1Quota(Standard, 10)
	require.NoError(t, err)
	assert.Equal(t, 2500, q.Limit)
	assert.False(t, q.Window.IsRolling())
	assert.Equal(t, PST, q.Window.Location())
	assert.Zero(t, q.Concurrency)

	q, err = CreditQuota(Enterprise, 10, 0)
	require.NoError(t, err)
	assert.Equal(t, 60000, q.Limit)
	assert.Equal(t, 24*time.Hour, q.Window.Length)
	assert.Equal(t, 20, q.Concurrency)

	_, err = CreditQuota(Edition(0), 1, 0)
	assert.ErrorIs(t, err, ErrUnknownEdition)
	_, err = V1Quota(Free, 0)
	assert.ErrorIs(t, err, ErrInvalidLicenses)
}

package zohoquota

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// EditionLimits holds every number Zoho publishes for one edition. The defaults are
// in DefaultTable; Zoho has changed them several times, so each can be overridden.
type EditionLimits struct {
	// Legacy v1 API: requests per day = clamp(V1PerLicense*licenses, V1Min, V1Max).
	// V1Max == 0 means the edition has no v1 cap (it did not exist under v1).
	V1PerLicense, V1Min, V1Max int

	// Current API (v2+): credits per rolling 24 h =
	// min(CreditBase + CreditPerLicense*licenses, CreditMax) + add-ons.
	// CreditMax == 0 means no maximum.
	CreditBase, CreditPerLicense, CreditMax int

	// Concurrency is the calls in flight per user per OAuth client;
	// SubConcurrency the same for "complex" calls (COQL, writes of more than 10 records, ...).
	Concurrency, SubConcurrency int
}

// Table maps each edition to its limits. Its methods compute caps from it; the
// package-level functions use DefaultTable.
type Table map[Edition]EditionLimits

// defaultTable is the reference table (shared/reference/zoho-limits.md §1, §2):
// v1 from the legacy api-limits page, credits and concurrency from the v8 page.
var defaultTable = Table{
	//            v1: per lic, min, max | v2+: base, per lic, max | conc, sub
	Free:         {0, 1_000, 1_000, 5_000, 0, 5_000, 5, 10},
	Standard:     {250, 2_000, 5_000, 50_000, 250, 100_000, 10, 10},
	Professional: {250, 3_000, 10_000, 50_000, 500, 3_000_000, 15, 10},
	Enterprise:   {500, 4_000, 25_000, 50_000, 1_000, 5_000_000, 20, 10},
	Ultimate:     {0, 0, 0, 50_000, 2_000, 0, 25, 10},
}

// DefaultTable returns a copy of the limits zohoquota ships with, for the caller to
// change and use through Table's methods.
func DefaultTable() Table {
	t := make(Table, len(defaultTable))
	for e, l := range defaultTable {
		t[e] = l
	}
	return t
}

// ErrNoV1Cap is wrapped when the legacy v1 API has no daily cap for an edition: the
// edition (Ultimate) came after v1.
var ErrNoV1Cap = errors.New("zohoquota: no v1 daily cap for this edition")

// ErrInvalidLicenses is wrapped by errors about a license count out of range.
var ErrInvalidLicenses = errors.New("zohoquota: invalid license count")

// ErrInvalidAddOns is wrapped by errors about a negative count of add-on credits.
var ErrInvalidAddOns = errors.New("zohoquota: invalid add-on credits")

func (t Table) limits(e Edition) (EditionLimits, error) {
	l, ok := t[e]
	if !ok {
		return EditionLimits{}, fmt.Errorf("zohoquota: no limits for %v: %w", e, ErrUnknownEdition)
	}
	return l, nil
}

func checkLicenses(licenses int) error {
	if licenses < 1 {
		return fmt.Errorf("zohoquota: %d licenses: need at least 1: %w", licenses, ErrInvalidLicenses)
	}
	return nil
}

// mulAdd returns a*b+c, saturating at math.MaxInt instead of overflowing.
func mulAdd(a, b, c int) int {
	if b != 0 && a > (math.MaxInt-c)/b {
		return math.MaxInt
	}
	return a*b + c
}

// DailyRequestCap returns the legacy v1 API's requests per day for an organization.
func (t Table) DailyRequestCap(e Edition, licenses int) (int, error) {
	l, err := t.limits(e)
	if err != nil {
		return 0, err
	}
	if err := checkLicenses(licenses); err != nil {
		return 0, err
	}
	if l.V1Max == 0 {
		return 0, fmt.Errorf("zohoquota: %v has no v1 daily cap (v1 editions: free, standard, professional, enterprise; v2+ credits apply): %w", e, ErrNoV1Cap)
	}
	return min(max(mulAdd(l.V1PerLicense, licenses, 0), l.V1Min), l.V1Max), nil
}

// CreditCap returns the current API's credits per rolling 24 hours for an organization.
func (t Table) CreditCap(e Edition, licenses, addOnCredits int) (int, error) {
	l, err := t.limits(e)
	if err != nil {
		return 0, err
	}
	if err := checkLicenses(licenses); err != nil {
		return 0, err
	}
	if addOnCredits < 0 {
		return 0, fmt.Errorf("zohoquota: %d add-on credits: need 0 or more: %w", addOnCredits, ErrInvalidAddOns)
	}
	c := mulAdd(l.CreditPerLicense, licenses, l.CreditBase)
	if l.CreditMax > 0 {
		c = min(c, l.CreditMax)
	}
	return mulAdd(1, c, addOnCredits), nil
}

// V1Quota returns the quota of the legacy v1 API: DailyRequestCap requests a day,
// reset at 00:00 PST (fixed UTC-8). There is no concurrency cap under v1.
func (t Table) V1Quota(e Edition, licenses int) (Quota, error) {
	c, err := t.DailyRequestCap(e, licenses)
	if err != nil {
		return Quota{}, err
	}
	return Quota{Limit: c, Window: Daily(PST)}, nil
}

// CreditQuota returns the quota of the current API: CreditCap credits over a
// rolling 24 hours, and the edition's concurrency cap.
func (t Table) CreditQuota(e Edition, licenses, addOnCredits int) (Quota, error) {
	c, err := t.CreditCap(e, licenses, addOnCredits)
	if err != nil {
		return Quota{}, err
	}
	l := t[e]
	return Quota{Limit: c, Window: Rolling(24 * time.Hour), Concurrency: l.Concurrency}, nil
}

// DailyRequestCap returns the legacy v1 API's requests per day:
// clamp(per-license cap × licenses, edition floor, edition ceiling).
func DailyRequestCap(e Edition, licenses int) (int, error) {
	return defaultTable.DailyRequestCap(e, licenses)
}

// CreditCap returns the current API's credits per rolling 24 hours:
// min(50,000 + licenses × per-edition credits, edition maximum) + add-ons.
func CreditCap(e Edition, licenses, addOnCredits int) (int, error) {
	return defaultTable.CreditCap(e, licenses, addOnCredits)
}

// V1Quota returns DefaultTable's legacy v1 quota for the organization.
func V1Quota(e Edition, licenses int) (Quota, error) { return defaultTable.V1Quota(e, licenses) }

// CreditQuota returns DefaultTable's current (v2+) quota for the organization.
func CreditQuota(e Edition, licenses, addOnCredits int) (Quota, error) {
	return defaultTable.CreditQuota(e, licenses, addOnCredits)
}

// Quota is what one Limiter enforces: Limit units per Window, and at most
// Concurrency calls in flight (0 means no concurrency cap).
type Quota struct {
	Limit       int
	Window      Window
	Concurrency int
}

func (q Quota) validate() error {
	if q.Limit < 1 {
		return fmt.Errorf("zohoquota: quota limit %d: need at least 1", q.Limit)
	}
	if q.Concurrency < 0 {
		return fmt.Errorf("zohoquota: concurrency %d: need 0 (no cap) or more", q.Concurrency)
	}
	return q.Window.validate()
}

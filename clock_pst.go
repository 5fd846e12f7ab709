package zohoquota

import (
	"fmt"
	"time"
	_ "time/tzdata" // Pacific() must work on machines without a zoneinfo database.
)

// PST is Pacific Standard Time as a fixed UTC-8 zone, the default reset zone of the
// v1 daily quota. Zoho's documents say "00:00 AM PST" without saying whether daylight
// saving applies; a reset at fixed UTC-8 can only be late against either reading,
// never early, so it cannot over-admit.
var PST = time.FixedZone("PST", -8*60*60)

var pacific = func() *time.Location {
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		// time/tzdata is linked in, so this cannot fail; PST is the safe fallback.
		return PST
	}
	return loc
}()

// Pacific returns America/Los_Angeles from the embedded tz database: PST in winter,
// PDT (UTC-7) in summer.
func Pacific() *time.Location { return pacific }

// NextReset returns the start of the calendar day after t's in loc: the first
// 00:00 strictly after t. Days are counted on the calendar, so a reset across a
// daylight saving change is 23 or 25 hours away. A nil loc means PST.
func NextReset(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = PST
	}
	y, m, d := t.In(loc).Date()
	return StartOfDay(y, m, d+1, loc)
}

// StartOfDay returns the first instant of the calendar date y-m-d in loc (the date
// is normalized as time.Date does, so d+1 past the month's end is fine). That is
// 00:00, except in zones whose clocks skip midnight for daylight saving
// (America/Havana, America/Santiago), where the day starts when the clocks jump,
// at 01:00. time.Date alone answers 23:00 of the day before there, an hour early.
func StartOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	wy, wm, wd := time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Date()
	if ty, tm, td := t.Date(); ty == wy && tm == wm && td == wd {
		return t
	}
	// Midnight does not exist: the date begins where the zone before it ends.
	_, end := t.ZoneBounds()
	return end
}

// dayStart returns the first instant of t's calendar day in loc.
func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return StartOfDay(y, m, d, loc)
}

// Window is the period a quota's limit applies to: a calendar day that resets at
// 00:00 in a zone (the v1 API), or a rolling period in which units spent at t free up
// at t+Length (the current API's credits). Build one with Daily or Rolling.
type Window struct {
	// Length is the rolling period; 0 makes the window a calendar day in Zone.
	Length time.Duration
	// Zone is the reset zone of a calendar-day window; nil means PST.
	Zone *time.Location
	// Bucket is how finely a rolling window tracks when units were spent; spending is
	// rounded up to the end of its bucket, so units come back at most one Bucket late,
	// never early. 0 means one minute.
	Bucket time.Duration
}

// Daily returns a calendar-day window that resets at 00:00 in loc (nil means PST).
func Daily(loc *time.Location) Window { return Window{Zone: loc} }

// Rolling returns a rolling window of length d with one-minute release buckets.
func Rolling(d time.Duration) Window { return Window{Length: d} }

// IsRolling reports whether units free up Length after they were spent, rather than
// all at once at midnight.
func (w Window) IsRolling() bool { return w.Length > 0 }

// Location returns the reset zone of a calendar-day window.
func (w Window) Location() *time.Location {
	if w.Zone == nil {
		return PST
	}
	return w.Zone
}

// BucketSize returns the release granularity of a rolling window.
func (w Window) BucketSize() time.Duration {
	if w.Bucket <= 0 {
		return time.Minute
	}
	return w.Bucket
}

// String describes the window for people: "daily, reset 00:00 PST" or "rolling 24h0m0s".
func (w Window) String() string {
	if w.IsRolling() {
		return "rolling " + w.Length.String()
	}
	return "daily, reset 00:00 " + w.Location().String()
}

func (w Window) validate() error {
	if w.Length < 0 {
		return fmt.Errorf("zohoquota: window length %v: need 0 (calendar day) or more", w.Length)
	}
	if w.IsRolling() && w.BucketSize() > w.Length {
		return fmt.Errorf("zohoquota: window bucket %v longer than the window %v", w.Bucket, w.Length)
	}
	if w.Bucket < 0 || w.Bucket%time.Millisecond != 0 {
		// Shared stores keep times in microseconds or coarser; whole milliseconds
		// release at the same instants everywhere.
		return fmt.Errorf("zohoquota: window bucket %v: need 0 (one minute) or a whole number of milliseconds", w.Bucket)
	}
	return nil
}

package zohoquota

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// ErrInvalidPlan is wrapped by every error about a plan's input. Its text has no
// prefix, as it ends messages that have one: "zohoquota: plan -5 records: need
// 0 or more: invalid plan".
var ErrInvalidPlan = errors.New("invalid plan")

// The years a plan's start may fall in (in UTC). A rolling plan counts time in
// Unix nanoseconds, which run out in April 2262, so a start past 2200 leaves too
// little room to plan in; before 1970 there is no Zoho CRM quota to plan for.
const (
	MinPlanYear = 1970
	MaxPlanYear = 2200
)

// maxPlanWindows bounds a plan to about a century of daily windows, so that a job
// far too big for its quota is an error rather than a runaway allocation.
const maxPlanWindows = 36_600

// Spent is units of a rolling quota spent at a moment; they free up a window's
// length later.
type Spent struct {
	At    time.Time
	Units int
}

// PlanInput describes a job to plan: Records records of Op, against Quota, from
// Start.
type PlanInput struct {
	Op      Op
	Records int
	Quota   Quota
	Start   time.Time // zero means now

	// Used is what the quota has already spent in its window at Start. In a
	// calendar-day window it frees at the next reset; in a rolling window, without
	// Spent, it is taken to free up a whole window after Start (the latest it could,
	// rounded to the window's bucket as the ledger does).
	Used int
	// Spent, for a rolling window, says when the used units were spent, so that the
	// plan can use them again as they free up. When set, Used is ignored; entries that
	// have already freed up by Start are skipped.
	Spent []Spent

	// BatchSize is the records a request carries; 0 means the op's maximum.
	BatchSize int
	// Cost is the units one request of n records takes from the quota. nil means 1
	// a request for a calendar-day quota (the v1 API counts requests) and
	// RequestCredits(Op, n) for a rolling one (the current API counts credits).
	Cost func(records int) int
}

// A Plan says how a job fits into a quota: what it costs and how many records go in
// each window. It assumes the job has the quota to itself and spends it as soon as
// it may; the time the calls themselves take is not counted.
type Plan struct {
	Op        Op
	Records   int
	BatchSize int
	Requests  int // requests the job takes
	Credits   int // credits it takes under the current API (RequestCredits per request)
	Units     int // units it takes from this quota (requests or credits, as Cost says)

	Limit int // the quota's units per window
	// RecordsPerWindow is how many records a whole window admits: the quota line.
	RecordsPerWindow int
	// Rolling is true when the windows are consecutive rolling periods from Start
	// rather than calendar days in the quota's zone.
	Rolling bool

	Start time.Time
	// Finish is the earliest moment the last request can be admitted.
	Finish  time.Time
	Windows []PlanWindow
}

// PlanWindow is one quota day (from Start, or from its 00:00, to the next reset in
// the quota's zone: 23 or 25 hours across a daylight saving change) or, for a
// rolling quota, one period of the window's length from the plan's start.
type PlanWindow struct {
	Start, End time.Time
	Records    int
	Requests   int
	Units      int
}

// Days returns how many windows the plan spans.
func (p Plan) Days() int { return len(p.Windows) }

// NewPlan plans a job. Errors wrap ErrInvalidPlan, or ErrCostAboveLimit when one
// request costs more than the whole window admits.
func NewPlan(in PlanInput) (Plan, error) {
	size, err := batchSize(in.Op, in.BatchSize)
	if ie := (*inputError)(nil); errors.As(err, &ie) {
		// Filed under ErrInvalidPlan, and still ErrInvalidBatch as it always was.
		return Plan{}, fmt.Errorf("zohoquota: plan: %w", &inputError{ie.what, append([]error{ErrInvalidPlan}, ie.errs...)})
	}
	if in.Records < 0 {
		return Plan{}, fmt.Errorf("zohoquota: plan %d records: need 0 or more: %w", in.Records, ErrInvalidPlan)
	}
	if err := in.Quota.validate(); err != nil {
		return Plan{}, fmt.Errorf("zohoquota: plan: %w", &inputError{strings.TrimPrefix(err.Error(), "zohoquota: "), []error{ErrInvalidPlan, err}})
	}
	if in.Start.IsZero() {
		in.Start = time.Now()
	}
	if y := in.Start.UTC().Year(); y < MinPlanYear || y > MaxPlanYear {
		return Plan{}, fmt.Errorf("zohoquota: plan: start %s: need a time in the years %d to %d: %w",
			in.Start.Format(time.RFC3339), MinPlanYear, MaxPlanYear, ErrInvalidPlan)
	}
	if in.Used < 0 {
		return Plan{}, fmt.Errorf("zohoquota: plan: %d units used: need 0 or more: %w", in.Used, ErrInvalidPlan)
	}
	cost := in.Cost
	if cost == nil {
		cost = func(int) int { return 1 }
		if in.Quota.Window.IsRolling() {
			op := in.Op
			cost = func(n int) int { return RequestCredits(op, n) }
		}
	}
	s := shape{size: size, full: in.Records / size, rest: in.Records % size, limit: in.Quota.Limit}
	s.fullCost = cost(size)
	if s.rest > 0 {
		s.restCost = cost(s.rest)
	}
	for _, c := range []int{s.fullCost, s.restCost} {
		if c < 1 && (c == s.fullCost || s.rest > 0) {
			return Plan{}, fmt.Errorf("zohoquota: plan: a request costs %d units: need at least 1: %w", c, ErrInvalidPlan)
		}
	}
	if c := max(s.fullCost, s.restCost); c > s.limit {
		return Plan{}, fmt.Errorf("zohoquota: plan: a request costs %d units, limit %d per window: %w", c, s.limit, ErrCostAboveLimit)
	}

	p := Plan{
		Op: in.Op, Records: in.Records, BatchSize: size,
		Requests:         s.full + min(s.rest, 1),
		Credits:          mulAdd(s.full, RequestCredits(in.Op, size), min(s.rest, 1)*RequestCredits(in.Op, s.rest)),
		Units:            mulAdd(s.full, s.fullCost, s.restCost),
		Limit:            s.limit,
		RecordsPerWindow: mulAdd(s.limit/s.fullCost, size, 0), // saturates for a limit near math.MaxInt
		Rolling:          in.Quota.Window.IsRolling(),
		Start:            in.Start,
		Finish:           in.Start,
	}
	if in.Records == 0 {
		return p, nil
	}
	if p.Rolling {
		err = planRolling(&p, &s, in)
	} else {
		err = planDaily(&p, &s, in)
	}
	if err != nil {
		return Plan{}, err
	}
	return p, nil
}

// shape is what is left of a job: full batches, and a last partial one.
type shape struct {
	size, full, rest   int
	fullCost, restCost int
	limit              int
}

func (s *shape) done() bool { return s.full == 0 && s.rest == 0 }

// spend puts into w as many requests as avail units admit, in order, and returns
// the units used.
func (s *shape) spend(w *PlanWindow, avail int) int {
	if avail <= 0 {
		return 0
	}
	used := 0
	k := min(s.full, avail/s.fullCost)
	s.full -= k
	used = k * s.fullCost
	w.Requests += k
	w.Records += k * s.size
	if s.full == 0 && s.rest > 0 && avail-used >= s.restCost {
		used += s.restCost
		w.Requests++
		w.Records += s.rest
		s.rest = 0
	}
	w.Units += used
	return used
}

func tooLong(p *Plan) error {
	return fmt.Errorf("zohoquota: plan of %d records takes more than %d windows at %d units a window: %w",
		p.Records, maxPlanWindows, p.Limit, ErrInvalidPlan)
}

// planDaily fills calendar days in the quota's zone: the first from Start to the
// next reset with what Used leaves, then whole days.
func planDaily(p *Plan, s *shape, in PlanInput) error {
	loc := in.Quota.Window.Location()
	start, end := in.Start, NextReset(in.Start, loc)
	avail := s.limit - min(in.Used, s.limit)
	for {
		if len(p.Windows) == maxPlanWindows {
			return tooLong(p)
		}
		w := PlanWindow{Start: start, End: end}
		s.spend(&w, avail)
		p.Windows = append(p.Windows, w)
		if s.done() {
			p.Finish = start
			return nil
		}
		start, end = end, NextReset(end, loc)
		avail = s.limit
	}
}

// release is units of a rolling window that free up together (Unix nanoseconds).
type release struct {
	at    int64
	units int
}

// planRolling spends greedily: what is free at Start, then whatever frees up, at
// the moment it frees up. Units spent at t come back at t+Length (rounded up to the
// window's bucket, as the ledger does). Both queues of releases, the ones already
// spent and the plan's own, are in time order, so no heap is needed.
func planRolling(p *Plan, s *shape, in PlanInput) error {
	w := in.Quota.Window
	startNs := in.Start.UnixNano()
	var old []release
	used := 0
	if in.Spent == nil {
		if in.Used > 0 {
			// Spent at Start at the latest: freed with Start's bucket, never sooner.
			old = []release{{at: releaseOf(w, in.Start), units: in.Used}}
			used = in.Used
		}
	} else {
		for _, sp := range in.Spent {
			if sp.Units < 0 {
				return fmt.Errorf("zohoquota: plan: %d units spent at %s: need 0 or more: %w", sp.Units, sp.At.Format(time.RFC3339), ErrInvalidPlan)
			}
			if sp.At.After(in.Start) {
				return fmt.Errorf("zohoquota: plan: units spent at %s, after the start %s: %w",
					sp.At.Format(time.RFC3339), in.Start.Format(time.RFC3339), ErrInvalidPlan)
			}
			if sp.At.Before(in.Start.Add(-w.Length - w.BucketSize())) {
				continue // freed up long before Start (and maybe before 1970)
			}
			if r := releaseOf(w, sp.At); r > startNs && sp.Units > 0 {
				old = append(old, release{at: r, units: sp.Units})
				used += sp.Units
			}
		}
		slices.SortFunc(old, func(a, b release) int { return cmp.Compare(a.at, b.at) })
	}

	var own []release
	oi, oh := 0, 0
	// The last moment whose release still fits in Unix nanoseconds.
	lastNs := math.MaxInt64 - int64(w.BucketSize()) - int64(w.Length)
	avail := s.limit - used
	t := startNs
	for {
		k := int((t - startNs) / int64(w.Length))
		if k >= maxPlanWindows {
			return tooLong(p)
		}
		for len(p.Windows) <= k {
			ws := in.Start.Add(time.Duration(len(p.Windows)) * w.Length)
			p.Windows = append(p.Windows, PlanWindow{Start: ws, End: ws.Add(w.Length)})
		}
		if t > lastNs {
			return fmt.Errorf("zohoquota: plan of %d records runs past the year 2262: %w", p.Records, ErrInvalidPlan)
		}
		if n := s.spend(&p.Windows[k], avail); n > 0 {
			avail -= n
			own = append(own, release{at: releaseOf(w, time.Unix(0, t)), units: n})
			if s.done() {
				p.Finish = time.Unix(0, t).In(in.Start.Location())
				return nil
			}
		}
		// Move to the next release, taking every release at that moment.
		next, ok := int64(0), false
		if oi < len(old) {
			next, ok = old[oi].at, true
		}
		if oh < len(own) && (!ok || own[oh].at < next) {
			next, ok = own[oh].at, true
		}
		if !ok {
			// Unreachable while every request fits in the limit: all units come back.
			return fmt.Errorf("zohoquota: plan: nothing frees up with %d units free: %w", avail, ErrInvalidPlan)
		}
		for oi < len(old) && old[oi].at == next {
			avail += old[oi].units
			oi++
		}
		for oh < len(own) && own[oh].at == next {
			avail += own[oh].units
			oh++
		}
		t = next
	}
}

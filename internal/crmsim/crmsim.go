package crmsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// API selects the generation of the Zoho CRM API a Server speaks.
type API int

const (
	// V8 is the current API: OAuth tokens, credits over a rolling 24 hours.
	V8 API = iota
	// V1 is the legacy API: authtoken, a daily request cap reset at midnight.
	V1
)

// String returns "v8" or "v1".
func (a API) String() string {
	switch a {
	case V8:
		return "v8"
	case V1:
		return "v1"
	default:
		return "API(" + strconv.Itoa(int(a)) + ")"
	}
}

// Limits Zoho applies that the simulator enforces.
const (
	MaxWriteRecords       = 100    // records per insert/update/upsert/delete call
	MaxPerPage            = 200    // v8 per_page and v1 records per getRecords
	DiscretePagingLimit   = 2000   // records reachable with page/per_page
	PageTokenLimit        = 100000 // records reachable with page_token
	PageTokenValidity     = 24 * time.Hour
	CreditWindow          = 24 * time.Hour
	DefaultSubConcurrency = 10
	complexRecordCount    = 10 // writes of more than this many records are complex
	maxFields             = 50
	maxBodyBytes          = 16 << 20
)

// Config configures a Server. The zero value is not valid: V8 needs a
// CreditLimit, V1 a DailyLimit.
type Config struct {
	API         API            // V8 (default) or V1
	CreditLimit int            // v8: credits per rolling 24 h; must be > 0 for V8
	DailyLimit  int            // v1: requests per day, reset at 00:00 in Zone; must be > 0 for V1
	Zone        *time.Location // v1 reset zone and the zone of timestamps; nil = fixed UTC-8 named "PST"
	// Concurrency is the maximum number of v8 calls in flight per token; 0 = unlimited.
	Concurrency int
	// SubConcurrency is the maximum number of complex v8 calls in flight per
	// token; 0 = 10.
	SubConcurrency int
	// Now is the clock; nil = time.Now (fake inside a testing/synctest bubble).
	Now func() time.Time
	// Latency is how long each admitted call holds its slot before answering.
	Latency time.Duration
	// FieldsOptional lets v8 Get Records omit the fields parameter (all fields
	// are returned). Real v8 answers 400 REQUIRED_PARAM_MISSING without it.
	FieldsOptional bool
}

// Record is one stored CRM record.
type Record struct {
	ID           string
	CreatedTime  time.Time
	ModifiedTime time.Time
	// Fields holds the record's fields by API name, as decoded from JSON
	// (string, json.Number, bool, nil, map[string]any, []any).
	Fields map[string]any
}

// Get returns field as a string ("" when absent or null).
func (r Record) Get(field string) string {
	return stringify(r.Fields[field])
}

// Stats is a snapshot of what the server has seen.
type Stats struct {
	Requests     int // HTTP requests received, whatever their fate
	Admitted     int // calls processed (not refused for auth, limits or concurrency)
	Credits      int // v8: credits used in the rolling window now
	CreditsTotal int // v8: credits ever charged
	DailyUsed    int // v1: requests counted against DailyLimit in the current day

	Rejected429         int // v8 answers 429 (both causes)
	RejectedCredits     int // v8 429 because the credits did not fit
	RejectedConcurrency int // v8 429 because of concurrency or sub-concurrency
	RateLimitedV1       int // v1 answers with error 4820

	MaxInFlight            int            // most calls in flight at once, all tokens together
	MaxInFlightPerToken    map[string]int // most calls in flight at once, per token
	MaxSubInFlightPerToken map[string]int // most complex calls in flight at once, per token

	ByStatus      map[int]int    // answers by HTTP status
	ByCode        map[string]int // request-level error codes ("TOO_MANY_REQUESTS", "LIMIT_EXCEEDED", "4820", ...)
	RecordResults map[string]int // per-record result codes ("SUCCESS", "MANDATORY_NOT_FOUND", "2000", "4401", ...)
}

// Server is the simulated Zoho CRM. It implements http.Handler and is safe
// for concurrent use.
type Server struct {
	cfg  Config
	now  func() time.Time
	zone *time.Location

	mu      sync.Mutex
	modules map[string]*moduleStore
	nextID  int64
	buckets []bucket // v8 credits, oldest first
	v1Day   time.Time
	v1Used  int

	inflight    map[string]int
	subInflight map[string]int
	allInflight int

	tokens   map[string]*pageToken
	tokenSeq uint64

	st Stats
}

type moduleStore struct {
	recs []*Record
	byID map[string]*Record
}

type bucket struct {
	minute  int64
	last    time.Time
	credits int
}

// New returns a Server for cfg, or an error if cfg is not usable.
func New(cfg Config) (*Server, error) {
	switch cfg.API {
	case V8:
		if cfg.CreditLimit <= 0 {
			return nil, fmt.Errorf("crmsim: V8 needs CreditLimit > 0, got %d", cfg.CreditLimit)
		}
	case V1:
		if cfg.DailyLimit <= 0 {
			return nil, fmt.Errorf("crmsim: V1 needs DailyLimit > 0, got %d", cfg.DailyLimit)
		}
	default:
		return nil, fmt.Errorf("crmsim: unknown API %v", cfg.API)
	}
	if cfg.CreditLimit < 0 || cfg.DailyLimit < 0 {
		return nil, errors.New("crmsim: limits must not be negative")
	}
	if cfg.Concurrency < 0 || cfg.SubConcurrency < 0 {
		return nil, errors.New("crmsim: Concurrency and SubConcurrency must not be negative")
	}
	if cfg.Latency < 0 {
		return nil, errors.New("crmsim: Latency must not be negative")
	}
	if cfg.SubConcurrency == 0 {
		cfg.SubConcurrency = DefaultSubConcurrency
	}
	s := &Server{
		cfg:         cfg,
		now:         cfg.Now,
		zone:        cfg.Zone,
		modules:     map[string]*moduleStore{},
		nextID:      0,
		inflight:    map[string]int{},
		subInflight: map[string]int{},
		tokens:      map[string]*pageToken{},
		st:          newStats(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.zone == nil {
		s.zone = time.FixedZone("PST", -8*60*60)
	}
	return s, nil
}

func newStats() Stats {
	return Stats{
		MaxInFlightPerToken:    map[string]int{},
		MaxSubInFlightPerToken: map[string]int{},
		ByStatus:               map[int]int{},
		ByCode:                 map[string]int{},
		RecordResults:          map[string]int{},
	}
}

// Config returns the configuration in use (with defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Running is a Server listening on a loopback port.
type Running struct {
	URL string // base URL, e.g. http://127.0.0.1:41234
	*Server
	hs *httptest.Server
}

// Start serves a new Server for cfg on 127.0.0.1 at a free port.
func Start(cfg Config) (*Running, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	hs := httptest.NewServer(s)
	return &Running{URL: hs.URL, Server: s, hs: hs}, nil
}

// Client returns an HTTP client for the running server; Close closes its
// idle connections.
func (r *Running) Client() *http.Client { return r.hs.Client() }

// Close stops the server and waits for the calls in flight.
func (r *Running) Close() { r.hs.Close() }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.st
	out.MaxInFlightPerToken = maps.Clone(s.st.MaxInFlightPerToken)
	out.MaxSubInFlightPerToken = maps.Clone(s.st.MaxSubInFlightPerToken)
	out.ByStatus = maps.Clone(s.st.ByStatus)
	out.ByCode = maps.Clone(s.st.ByCode)
	out.RecordResults = maps.Clone(s.st.RecordResults)
	now := s.now()
	out.Credits = s.usedLocked(now)
	s.rollV1Locked(now)
	out.DailyUsed = s.v1Used
	return out
}

// CreditsUsed returns the v8 credits used in the rolling window now.
func (s *Server) CreditsUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usedLocked(s.now())
}

// Records returns copies of the records stored in module, oldest first.
func (s *Server) Records(module string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.modules[module]
	if m == nil {
		return nil
	}
	out := make([]Record, 0, len(m.recs))
	for _, r := range m.recs {
		c := *r
		c.Fields = maps.Clone(r.Fields)
		out = append(out, c)
	}
	return out
}

// Seed stores n made-up records in module without charging anything. The
// records satisfy the module's mandatory fields.
func (s *Server) Seed(module string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	m := s.moduleLocked(module)
	for i := range n {
		f := map[string]any{
			"First_Name": "Seed",
			"Last_Name":  fmt.Sprintf("Record %d", len(m.recs)+1),
			"Company":    fmt.Sprintf("Seed Company %d", i%97),
			"Email":      fmt.Sprintf("seed%d@example.com", len(m.recs)+1),
		}
		for _, mf := range mandatoryFields[module] {
			if _, ok := f[mf]; !ok {
				f[mf] = fmt.Sprintf("Seed %s %d", mf, len(m.recs)+1)
			}
		}
		s.storeLocked(m, f, now)
	}
}

func (s *Server) moduleLocked(name string) *moduleStore {
	m := s.modules[name]
	if m == nil {
		m = &moduleStore{byID: map[string]*Record{}}
		s.modules[name] = m
	}
	return m
}

// idBase makes ids look like Zoho's: 19 digits, an org prefix, a sequence.
const idBase int64 = 4876876000000000000

// simUser is the user every token acts as.
var simUser = map[string]any{"name": "Sim User", "id": "4876876000000225013"}

func (s *Server) storeLocked(m *moduleStore, fields map[string]any, now time.Time) *Record {
	s.nextID++
	id := strconv.FormatInt(idBase+100000+s.nextID*2, 10)
	f := maps.Clone(fields)
	if f == nil {
		f = map[string]any{}
	}
	delete(f, "id")
	r := &Record{ID: id, CreatedTime: now, ModifiedTime: now, Fields: f}
	m.recs = append(m.recs, r)
	m.byID[id] = r
	return r
}

func (m *moduleStore) delete(id string) bool {
	if _, ok := m.byID[id]; !ok {
		return false
	}
	delete(m.byID, id)
	m.recs = slices.DeleteFunc(m.recs, func(r *Record) bool { return r.ID == id })
	return true
}

func (s *Server) ts(t time.Time) string {
	return t.In(s.zone).Format("2006-01-02T15:04:05-07:00")
}

// --- credits (v8) ---

func (s *Server) usedLocked(now time.Time) int {
	// Drop expired buckets from the front; sum the rest (a clock that went
	// backwards can leave an expired one behind a live one: skip it).
	for len(s.buckets) > 0 && !now.Before(s.buckets[0].last.Add(CreditWindow)) {
		s.buckets = s.buckets[1:]
	}
	used := 0
	for _, b := range s.buckets {
		if now.Before(b.last.Add(CreditWindow)) {
			used += b.credits
		}
	}
	return used
}

func (s *Server) chargeLocked(now time.Time, credits int) {
	s.st.CreditsTotal += credits
	minute := now.Unix() / 60
	if n := len(s.buckets); n > 0 && s.buckets[n-1].minute == minute {
		b := &s.buckets[n-1]
		b.credits += credits
		if now.After(b.last) {
			b.last = now
		}
		return
	}
	s.buckets = append(s.buckets, bucket{minute: minute, last: now, credits: credits})
}

// --- daily cap (v1) ---

func (s *Server) rollV1Locked(now time.Time) {
	if s.v1Day.IsZero() || !now.Before(s.v1Day) {
		l := now.In(s.zone)
		y, m, d := l.Date()
		s.v1Day = time.Date(y, m, d+1, 0, 0, 0, 0, s.zone)
		s.v1Used = 0
	}
}

// --- plumbing ---

// ServeHTTP answers one request as Zoho CRM would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.st.Requests++
	s.mu.Unlock()
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/crm/private/"):
		if s.cfg.API != V1 {
			s.notFound(w)
			return
		}
		s.serveV1(w, r)
	case isV8Path(p):
		if s.cfg.API != V8 {
			s.notFound(w)
			return
		}
		s.serveV8(w, r)
	default:
		s.notFound(w)
	}
}

func isV8Path(p string) bool {
	rest, ok := strings.CutPrefix(p, "/crm/v")
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return false
	}
	rest = rest[i:]
	rest = strings.TrimPrefix(rest, ".1") // v2.1
	return strings.HasPrefix(rest, "/")
}

func (s *Server) notFound(w http.ResponseWriter) {
	s.writeJSON(w, http.StatusNotFound, nil, apiError("INVALID_URL_PATTERN",
		"the URL does not match any API of this server", nil))
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, hdr http.Header, body any) {
	for k, v := range hdr {
		w.Header()[k] = v
	}
	s.mu.Lock()
	s.st.ByStatus[status]++
	if e, ok := body.(errorBody); ok {
		s.st.ByCode[e.Code]++
	}
	if e, ok := body.(v1Envelope); ok && e.Response.Error != nil {
		s.st.ByCode[e.Response.Error.Code]++
	}
	s.mu.Unlock()
	if body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// hold keeps the slot for the configured latency, or until the client goes.
func (s *Server) hold(r *http.Request) {
	if s.cfg.Latency <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (s *Server) enterLocked(token string, complex bool) {
	s.inflight[token]++
	s.allInflight++
	if complex {
		s.subInflight[token]++
		if s.subInflight[token] > s.st.MaxSubInFlightPerToken[token] {
			s.st.MaxSubInFlightPerToken[token] = s.subInflight[token]
		}
	}
	if s.inflight[token] > s.st.MaxInFlightPerToken[token] {
		s.st.MaxInFlightPerToken[token] = s.inflight[token]
	}
	if s.allInflight > s.st.MaxInFlight {
		s.st.MaxInFlight = s.allInflight
	}
}

func (s *Server) leave(token string, complex bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight[token]--
	if s.inflight[token] == 0 {
		delete(s.inflight, token)
	}
	s.allInflight--
	if complex {
		s.subInflight[token]--
		if s.subInflight[token] == 0 {
			delete(s.subInflight, token)
		}
	}
}

func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

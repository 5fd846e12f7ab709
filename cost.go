package zohoquota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// V1Cost is the cost of a legacy v1 API call: every request is 1 of the day's
// requests, whatever it does. Use it as Transport.Cost with a V1Quota limiter.
func V1Cost(*http.Request) int { return 1 }

// Largest record counts Zoho accepts per call, assumed when a request's body cannot
// be read without consuming it.
const (
	maxWriteRecords = 100 // insert, update, upsert
	maxTagRecords   = 500 // add or remove tags
)

// CreditCost returns the credits a v2+ API call costs, from Zoho's published table
// (reference §2): 1 by default; Convert Lead 5; Get Records with a cvid 3; deleted
// records 2; insert, update and upsert 1 per 10 records (100 records = 10); add or
// remove tags 1 per 50 records; Send Mail 20; merge 50; Download Mail Merge 5; Bulk
// Read initialize 50; Bulk Write initialize 500; Composite 1, or 2 when it asks for
// rollback_on_fail.
//
// Record counts come from the request body, read only through req.GetBody so that
// req.Body is never consumed: the length of the "data" array for writes, of "ids"
// (or the ids query parameter) for tags. When the body cannot be read that way
// (GetBody is nil, fails, or the body is not the JSON Zoho expects), CreditCost
// assumes the largest call Zoho accepts: 100 records (10 credits) for a write, 500
// (10 credits) for tags, rollback for Composite. Over-counting can only leave
// credits unused; under-counting could overrun the quota.
//
// Paths are matched after the version segment (/crm/v2 to /crm/v8, /crm/v2.1,
// /crm/bulk/vN); any other path costs 1.
func CreditCost(req *http.Request) int {
	c, _ := creditCost(req)
	return c
}

// notModules are the first segments after /crm/vN/ that name no module, so that a
// POST to them is not counted as a record insert.
var notModules = map[string]bool{
	"settings": true, "users": true, "org": true, "coql": true, "__apis": true,
	"__features": true, "functions": true, "actions": true, "files": true,
	"__notification_settings": true, "__composite_requests": true,
}

// creditCost is CreditCost; known is false when no specific rule matched and the
// cost is the default of 1.
func creditCost(req *http.Request) (cost int, known bool) {
	segs, bulk, ok := splitAPIPath(urlPath(req))
	if !ok {
		return 1, false
	}
	m := req.Method
	if bulk {
		switch {
		case m == http.MethodPost && len(segs) == 1 && segs[0] == "read":
			return 50, true
		case m == http.MethodPost && len(segs) == 1 && segs[0] == "write":
			return 500, true
		}
		return 1, false
	}
	if len(segs) == 0 {
		return 1, false
	}
	if segs[0] == "__composite_requests" && m == http.MethodPost {
		return compositeCost(req), true
	}
	if notModules[segs[0]] {
		return 1, false
	}
	switch len(segs) {
	case 1: // /{module}
		switch m {
		case http.MethodGet:
			if req.URL.Query().Has("cvid") {
				return 3, true
			}
			return 1, true
		case http.MethodPost, http.MethodPut:
			return writeCost(req), true
		}
	case 2: // /{module}/upsert, /{module}/deleted, /{module}/{id}
		switch {
		case segs[1] == "upsert" && m == http.MethodPost:
			return writeCost(req), true
		case segs[1] == "deleted" && m == http.MethodGet:
			return 2, true
		}
	case 3: // /{module}/actions/{action}
		if segs[1] == "actions" && m == http.MethodPost && (segs[2] == "add_tags" || segs[2] == "remove_tags") {
			return tagCost(req), true
		}
	case 4: // /{module}/{id}/actions/{action}
		if segs[2] != "actions" || m != http.MethodPost {
			break
		}
		switch segs[3] {
		case "convert":
			return 5, true
		case "send_mail":
			return 20, true
		case "merge":
			return 50, true
		case "download_mail_merge":
			return 5, true
		case "add_tags", "remove_tags":
			return 1, true
		}
	}
	return 1, false
}

// ComplexCall reports whether Zoho counts req against the sub-concurrency cap of
// "complex" calls (reference §2): COQL queries; Get Records with a cvid or
// sort_by; insert, update or upsert of more than 10 records (counted through
// GetBody; a body that cannot be read counts as complex); Convert Lead; Send Mail;
// mass actions (…/actions/mass_*). Zoho has grown this list over time: wrap or
// replace it through Transport.Complex.
func ComplexCall(req *http.Request) bool {
	segs, bulk, ok := splitAPIPath(urlPath(req))
	if !ok || bulk || len(segs) == 0 {
		return false
	}
	m := req.Method
	if segs[0] == "coql" {
		return true
	}
	if notModules[segs[0]] {
		return false
	}
	switch len(segs) {
	case 1:
		switch m {
		case http.MethodGet:
			q := req.URL.Query()
			return q.Has("cvid") || q.Has("sort_by")
		case http.MethodPost, http.MethodPut:
			return moreThanTenRecords(req)
		}
	case 2:
		return segs[1] == "upsert" && m == http.MethodPost && moreThanTenRecords(req)
	case 3:
		return segs[1] == "actions" && strings.HasPrefix(segs[2], "mass_")
	case 4:
		return segs[2] == "actions" && (segs[3] == "convert" || segs[3] == "send_mail")
	}
	return false
}

func moreThanTenRecords(req *http.Request) bool {
	n, err := countBodyArray(req, "data")
	return err != nil || n > 10
}

// splitAPIPath returns the segments of a v2+ API path after its version:
// "/crm/v8/Leads/1/actions/convert" gives [Leads 1 actions convert];
// "/crm/bulk/v8/read" gives [read] and bulk. ok is false for other paths.
// urlPath is req's URL path, or "" for a request without a URL (which Transport
// refuses; the cost functions count it as a default call instead of panicking).
func urlPath(req *http.Request) string {
	if req == nil || req.URL == nil {
		return ""
	}
	return req.URL.Path
}

func splitAPIPath(p string) (segs []string, bulk, ok bool) {
	all := strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
	for i := 0; i+1 < len(all); i++ {
		if all[i] != "crm" {
			continue
		}
		j := i + 1
		if all[j] == "bulk" && j+1 < len(all) {
			bulk = true
			j++
		}
		if isVersion(all[j]) {
			return all[j+1:], bulk, true
		}
		return nil, false, false
	}
	return nil, false, false
}

// isVersion reports whether s is an API version segment: v2, v8, v2.1.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	_, err := strconv.ParseFloat(s[1:], 64)
	return err == nil && s[1] >= '0' && s[1] <= '9'
}

// ceilDiv returns ceil(n/d), at least 1.
func ceilDiv(n, d int) int { return max(1, (n+d-1)/d) }

// writeCost is 1 credit per 10 records of the body's "data" array.
func writeCost(req *http.Request) int {
	n, err := countBodyArray(req, "data")
	if err != nil {
		n = maxWriteRecords
	}
	return ceilDiv(n, 10)
}

// tagCost is 1 credit per 50 records, counted from the ids query parameter or the
// body's "ids" array.
func tagCost(req *http.Request) int {
	if ids := req.URL.Query().Get("ids"); ids != "" {
		return ceilDiv(strings.Count(ids, ",")+1, 50)
	}
	n, err := countBodyArray(req, "ids")
	if err != nil || n == 0 {
		n = maxTagRecords
	}
	return ceilDiv(n, 50)
}

// compositeCost is 1, or 2 when the call asks for rollback (Zoho charges 2 when
// all its requests then succeed).
func compositeCost(req *http.Request) int {
	body, err := replayBody(req)
	if err != nil {
		return 2
	}
	defer body.Close()
	tok, found := lookupJSON(newDecoder(body), []string{"rollback_on_fail"})
	if !found || tok == false {
		return 1
	}
	return 2
}

// errNoReplay is returned when a request's body can only be read by consuming it.
var errNoReplay = errors.New("zohoquota: request body cannot be read without consuming it (no GetBody)")

// replayBody returns a fresh copy of req's body from GetBody.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, errNoReplay
	}
	if req.GetBody == nil {
		return nil, errNoReplay
	}
	return req.GetBody()
}

// countBodyArray counts the elements of the array under key in the JSON object that
// is req's body, read through GetBody.
func countBodyArray(req *http.Request, key string) (int, error) {
	body, err := replayBody(req)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	return countJSONArray(body, key)
}

type jsonNumber = json.Number

func newDecoder(r io.Reader) *json.Decoder {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	return dec
}

// countJSONArray returns the number of elements of the array under the top-level
// key of the JSON object r holds, streaming: elements are skipped token by token,
// never decoded. A missing key counts 0.
func countJSONArray(r io.Reader, key string) (int, error) {
	dec := newDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return 0, err
		}
		if k != key {
			if err := skipValue(dec); err != nil {
				return 0, err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return 0, fmt.Errorf("zohoquota: %q: %w", key, err)
		}
		n := 0
		for dec.More() {
			if err := skipValue(dec); err != nil {
				return 0, err
			}
			n++
		}
		return n, nil
	}
	return 0, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("zohoquota: JSON %v where %v was expected", tok, want)
	}
	return nil
}

// skipValue reads one whole JSON value from dec. Decoding into a RawMessage runs
// the decoder's scanner over the value in one pass; walking it with Token costs an
// interface value per token, several times slower on a 100-record write.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}

// lookupJSON returns the scalar token at path in the JSON object dec reads.
func lookupJSON(dec *json.Decoder, path []string) (json.Token, bool) {
	if len(path) == 0 || expectDelim(dec, '{') != nil {
		return nil, false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		if k != path[0] {
			if skipValue(dec) != nil {
				return nil, false
			}
			continue
		}
		if len(path) > 1 {
			return lookupJSON(dec, path[1:])
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		if _, ok := tok.(json.Delim); ok {
			return nil, false
		}
		return tok, true
	}
	return nil, false
}

// CostTable is the server's own cost table, loaded from GET /crm/{version}/__apis
// (LoadAPICosts, ParseAPICosts): per path template and method, the least and the
// most credits a call can cost.
//
// Cost matches a request against the templates ("{…}" segments match any one
// segment; literal segments win over placeholders) and keeps it within the
// server's range: where CreditCost has a specific rule for the call (records
// counted from the body, Convert Lead, …) its figure is clamped to [min, max];
// otherwise the call costs max_credits, the safe side. A request no template
// matches costs Fallback(req). A CostTable is safe for use by multiple goroutines.
type CostTable struct {
	// Fallback prices requests the table does not list. nil means CreditCost.
	Fallback func(*http.Request) int

	routes []costRoute // most specific first
}

type costRoute struct {
	method   string
	segs     []string // "" marks a placeholder
	min, max int
}

// Len returns the number of path and method pairs in the table.
func (t *CostTable) Len() int { return len(t.routes) }

// Cost returns the credits req costs.
func (t *CostTable) Cost(req *http.Request) int {
	if req == nil || req.URL == nil {
		return 1
	}
	segs := strings.FieldsFunc(req.URL.Path, func(r rune) bool { return r == '/' })
	for _, r := range t.routes {
		if r.method != req.Method || !r.match(segs) {
			continue
		}
		if c, known := creditCost(req); known {
			return min(max(c, r.min), r.max)
		}
		return r.max
	}
	if t.Fallback != nil {
		return t.Fallback(req)
	}
	return CreditCost(req)
}

func (r costRoute) match(segs []string) bool {
	if len(segs) != len(r.segs) {
		return false
	}
	for i, s := range r.segs {
		if s != "" && !strings.EqualFold(s, segs[i]) {
			return false
		}
	}
	return true
}

// moreSpecific orders routes so that, of two that match the same path, the one with
// a literal segment where the other has a placeholder comes first.
func moreSpecific(a, b costRoute) int {
	for i := range min(len(a.segs), len(b.segs)) {
		al, bl := a.segs[i] != "", b.segs[i] != ""
		if al != bl {
			if al {
				return -1
			}
			return 1
		}
	}
	return len(a.segs) - len(b.segs)
}

// apisResponse is the body of GET /crm/{version}/__apis.
type apisResponse struct {
	APIs *[]struct {
		Path           string `json:"path"`
		OperationTypes []struct {
			Method     string `json:"method"`
			OAuthScope string `json:"oauth_scope"`
			MinCredits *int   `json:"min_credits"`
			MaxCredits *int   `json:"max_credits"`
		} `json:"operation_types"`
	} `json:"__apis"`
}

// ParseAPICosts reads the body of GET /crm/{version}/__apis:
//
//	{"__apis":[{"path":"/crm/v8/Leads","operation_types":[
//	  {"method":"GET","oauth_scope":"ZohoCRM.modules.leads.READ","min_credits":1,"max_credits":1}]}]}
//
// Each path must start with "/" and have balanced "{…}" placeholders; each
// operation needs a method and max_credits of 0 or more (min_credits, when given,
// from 0 to max_credits). An error names the entry and what was wrong.
func ParseAPICosts(r io.Reader) (*CostTable, error) {
	var doc apisResponse
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("zohoquota: decode __apis response (want {\"__apis\":[{\"path\":…,\"operation_types\":[…]}]}): %w", err)
	}
	if doc.APIs == nil {
		return nil, errors.New(`zohoquota: __apis response has no "__apis" list (want {"__apis":[{"path":…,"operation_types":[…]}]})`)
	}
	t := &CostTable{}
	index := make(map[string]int) // method + path → route
	for i, api := range *doc.APIs {
		segs, err := pathTemplate(api.Path)
		if err != nil {
			return nil, fmt.Errorf("zohoquota: __apis entry %d: %w", i, err)
		}
		for j, op := range api.OperationTypes {
			method := strings.ToUpper(strings.TrimSpace(op.Method))
			where := fmt.Sprintf("zohoquota: __apis entry %d (%s), operation %d (%s)", i, api.Path, j, method)
			switch {
			case method == "":
				return nil, fmt.Errorf("%s: need a method (GET, POST, PUT, PATCH, DELETE)", where)
			case op.MaxCredits == nil:
				return nil, fmt.Errorf("%s: need max_credits", where)
			case *op.MaxCredits < 0:
				return nil, fmt.Errorf("%s: max_credits %d: need 0 or more", where, *op.MaxCredits)
			case op.MinCredits != nil && (*op.MinCredits < 0 || *op.MinCredits > *op.MaxCredits):
				return nil, fmt.Errorf("%s: min_credits %d: need 0 to max_credits %d", where, *op.MinCredits, *op.MaxCredits)
			}
			lo := 0
			if op.MinCredits != nil {
				lo = *op.MinCredits
			}
			key := method + " " + strings.ToLower(strings.Join(segs, "/"))
			if k, dup := index[key]; dup {
				// The same operation listed twice: keep the widest range.
				t.routes[k].min = min(t.routes[k].min, lo)
				t.routes[k].max = max(t.routes[k].max, *op.MaxCredits)
				continue
			}
			index[key] = len(t.routes)
			t.routes = append(t.routes, costRoute{method: method, segs: segs, min: lo, max: *op.MaxCredits})
		}
	}
	slices.SortStableFunc(t.routes, moreSpecific)
	return t, nil
}

// pathTemplate splits an __apis path into segments, "" for each placeholder.
func pathTemplate(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path %q: need an absolute path such as /crm/v8/{module_api_name}", p)
	}
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
	for i, s := range segs {
		open, closed := strings.HasPrefix(s, "{"), strings.HasSuffix(s, "}")
		switch {
		case open && closed && len(s) > 2 && !strings.ContainsAny(s[1:len(s)-1], "{}"):
			segs[i] = ""
		case strings.ContainsAny(s, "{}"):
			return nil, fmt.Errorf("path %q: segment %q: a placeholder must be a whole segment like {module_api_name}", p, s)
		}
	}
	return segs, nil
}

// LoadAPICosts fetches the server's cost table, GET {baseURL}/__apis, where baseURL
// is the API root with its version, such as https://www.zohoapis.com/crm/v8. The call
// costs 1 credit and needs the ZohoCRM.apis.READ scope; client carries the
// authorization (nil means http.DefaultClient).
func LoadAPICosts(ctx context.Context, client *http.Client, baseURL string) (*CostTable, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimRight(baseURL, "/") + "/__apis"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("zohoquota: load API costs: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("zohoquota: load API costs: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("zohoquota: load API costs: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(snippet)))
	}
	t, err := ParseAPICosts(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("zohoquota: load API costs from %s: %w", u, err)
	}
	return t, nil
}

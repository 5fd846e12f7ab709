package crmsim

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errorBody is the v2+ error envelope.
type errorBody struct {
	Code    string         `json:"code"`
	Details map[string]any `json:"details"`
	Message string         `json:"message"`
	Status  string         `json:"status"`
}

func apiError(code, msg string, details map[string]any) errorBody {
	if details == nil {
		details = map[string]any{}
	}
	return errorBody{Code: code, Details: details, Message: msg, Status: "error"}
}

func tooManyRequests() errorBody {
	return apiError("TOO_MANY_REQUESTS",
		"API credits for the last 24 hours or the concurrency limit of the user for the app are exhausted", nil)
}

// dataBody is {"data":[...]}, the envelope of per-record results.
type dataBody struct {
	Data []map[string]any `json:"data"`
}

// v8call is a routed call: what it costs, whether it is complex, and the
// work to do once admitted (run under s.mu).
type v8call struct {
	cost    int
	complex bool
	run     func(now time.Time) (int, any)
}

func oauthToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Zoho-oauthtoken ")
	tok = strings.TrimSpace(tok)
	return tok, ok && tok != ""
}

func (s *Server) serveV8(w http.ResponseWriter, r *http.Request) {
	token, ok := oauthToken(r)
	if !ok {
		s.writeJSON(w, http.StatusUnauthorized, nil,
			apiError("AUTHENTICATION_FAILURE", "authentication failed: no Zoho-oauthtoken given", nil))
		return
	}
	call, found := s.route8(r)
	if !found {
		s.notFound(w)
		return
	}

	hdr := http.Header{}
	s.mu.Lock()
	now := s.now()
	used := s.usedLocked(now)
	overConc := s.cfg.Concurrency > 0 && s.inflight[token] >= s.cfg.Concurrency
	overSub := call.complex && s.subInflight[token] >= s.cfg.SubConcurrency
	if overConc || overSub || used+call.cost > s.cfg.CreditLimit {
		s.st.Rejected429++
		if overConc || overSub {
			s.st.RejectedConcurrency++
		} else {
			s.st.RejectedCredits++
		}
		s.remainingLocked(hdr, used)
		s.mu.Unlock()
		s.writeJSON(w, http.StatusTooManyRequests, hdr, tooManyRequests())
		return
	}
	s.chargeLocked(now, call.cost)
	s.st.Admitted++
	s.enterLocked(token, call.complex)
	status, body := call.run(now)
	s.remainingLocked(hdr, used+call.cost)
	s.mu.Unlock()

	s.hold(r)
	s.leave(token, call.complex)
	s.writeJSON(w, status, hdr, body)
}

func (s *Server) remainingLocked(hdr http.Header, used int) {
	if 2*used >= s.cfg.CreditLimit {
		hdr.Set("X-API-CREDITS-REMAINING", strconv.Itoa(max(s.cfg.CreditLimit-used, 0)))
	}
}

// failed is a call that is admitted and charged like any other but answers
// a request-level error.
func failed(status int, e errorBody) v8call {
	return v8call{cost: 1, run: func(time.Time) (int, any) { return status, e }}
}

func (s *Server) route8(r *http.Request) (v8call, bool) {
	p := strings.TrimPrefix(r.URL.Path, "/crm/v")
	_, p, _ = strings.Cut(p, "/")
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if len(segs) == 0 || segs[0] == "" || len(segs) > 2 {
		return v8call{}, false
	}
	mod := segs[0]
	if len(segs) == 2 && segs[1] != "upsert" {
		return v8call{}, false
	}
	if !moduleName.MatchString(mod) {
		return failed(http.StatusBadRequest, apiError("INVALID_MODULE",
			"the module name given seems to be invalid", map[string]any{"resource_path_index": 0})), true
	}
	badMethod := failed(http.StatusBadRequest, apiError("INVALID_REQUEST_METHOD",
		"the http request method type is not a valid one", map[string]any{"resource_path_index": 0}))
	if len(segs) == 2 {
		if r.Method != http.MethodPost {
			return badMethod, true
		}
		return s.writeCall(r, mod, opUpsert), true
	}
	switch r.Method {
	case http.MethodGet:
		return s.listCall(r.URL.Query(), mod), true
	case http.MethodPost:
		return s.writeCall(r, mod, opInsert), true
	case http.MethodPut:
		return s.writeCall(r, mod, opUpdate), true
	case http.MethodDelete:
		return s.deleteCall(r.URL.Query(), mod), true
	default:
		return badMethod, true
	}
}

// --- Get Records ---

type listInfo struct {
	PerPage           int     `json:"per_page"`
	NextPageToken     *string `json:"next_page_token"`
	Count             int     `json:"count"`
	SortBy            string  `json:"sort_by"`
	Page              int     `json:"page"`
	PreviousPageToken *string `json:"previous_page_token"`
	PageTokenExpiry   *string `json:"page_token_expiry"`
	SortOrder         string  `json:"sort_order"`
	MoreRecords       bool    `json:"more_records"`
}

type listBody struct {
	Data []map[string]any `json:"data"`
	Info listInfo         `json:"info"`
}

type pageToken struct {
	module  string
	bind    string // canonical query the token belongs to
	cursor  Record // sort key of the last record handed out
	fetched int    // records handed out before the next page
	page    int    // page number of the page that minted the token
	expires time.Time
}

func (s *Server) listCall(q url.Values, mod string) v8call {
	c := v8call{cost: 1, complex: q.Has("sort_by") || q.Has("cvid")}
	if q.Has("cvid") {
		c.cost = 3
	}
	c.run = func(now time.Time) (int, any) { return s.listLocked(now, q, mod) }
	return c
}

func badRequest(code, msg string, details map[string]any) (int, any) {
	return http.StatusBadRequest, apiError(code, msg, details)
}

func (s *Server) listLocked(now time.Time, q url.Values, mod string) (int, any) {
	var fields []string
	for f := range strings.SplitSeq(q.Get("fields"), ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(fields, f) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 && !s.cfg.FieldsOptional {
		return badRequest("REQUIRED_PARAM_MISSING", "the fields parameter is required",
			map[string]any{"param_name": "fields"})
	}
	if len(fields) > maxFields {
		return badRequest("LIMIT_EXCEEDED", "too many fields requested",
			map[string]any{"limit": maxFields, "param_name": "fields"})
	}
	perPage := MaxPerPage
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPerPage {
			return badRequest("INVALID_DATA", "per_page must be between 1 and 200",
				map[string]any{"param_name": "per_page"})
		}
		perPage = n
	}
	tokStr := q.Get("page_token")
	if q.Has("page") && tokStr != "" {
		return badRequest("AMBIGUITY_DURING_PROCESSING", "page and page_token cannot be given together",
			map[string]any{"ambiguity_due_to": []string{"page", "page_token"}})
	}
	sortBy := cmp.Or(q.Get("sort_by"), "id")
	if !slices.Contains([]string{"id", "Created_Time", "Modified_Time"}, sortBy) {
		return badRequest("INVALID_DATA", "sort_by is not supported",
			map[string]any{"param_name": "sort_by", "supported_values": []string{"id", "Created_Time", "Modified_Time"}})
	}
	sortOrder := cmp.Or(q.Get("sort_order"), "desc")
	if sortOrder != "asc" && sortOrder != "desc" {
		return badRequest("INVALID_DATA", "sort_order must be asc or desc",
			map[string]any{"param_name": "sort_order", "supported_values": []string{"asc", "desc"}})
	}
	bind := strings.Join([]string{mod, strconv.Itoa(perPage), sortBy, sortOrder,
		strings.Join(fields, ","), q.Get("ids"), q.Get("cvid")}, "|")

	m := s.modules[mod]
	var recs []*Record
	if m != nil {
		recs = slices.Clone(m.recs)
	}
	if ids := q.Get("ids"); ids != "" {
		want := map[string]bool{}
		for id := range strings.SplitSeq(ids, ",") {
			want[strings.TrimSpace(id)] = true
		}
		recs = slices.DeleteFunc(recs, func(r *Record) bool { return !want[r.ID] })
	}
	order := func(a, b *Record) int {
		var c int
		switch sortBy {
		case "Created_Time":
			c = a.CreatedTime.Compare(b.CreatedTime)
		case "Modified_Time":
			c = a.ModifiedTime.Compare(b.ModifiedTime)
		}
		if c == 0 {
			c = cmp.Compare(len(a.ID), len(b.ID))
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if sortOrder == "desc" {
			c = -c
		}
		return c
	}
	slices.SortFunc(recs, order)

	var start, page int
	var prev *string
	if tokStr != "" {
		s.pruneTokensLocked(now)
		t := s.tokens[tokStr]
		switch {
		case t == nil:
			return badRequest("INVALID_DATA", "the page_token given seems to be invalid",
				map[string]any{"param_name": "page_token"})
		case !now.Before(t.expires):
			return badRequest("EXPIRED_VALUE", "the page_token has expired",
				map[string]any{"api_name": "page_token", "json_path": "$.query.page_token"})
		case t.bind != bind:
			return badRequest("TOKEN_BOUND_DATA_MISMATCH",
				"the page_token does not belong to this query (a parameter was added, altered or removed)",
				map[string]any{"param_name": "page_token"})
		case t.fetched >= PageTokenLimit:
			return badRequest("PAGINATION_LIMIT_EXCEEDED", "page_token reaches the first 100000 records only",
				map[string]any{"param_name": "page_token"})
		}
		cur := t.cursor
		start = len(recs)
		for i, r := range recs {
			if order(r, &cur) > 0 {
				start = i
				break
			}
		}
		page = t.page + 1
		prev = &tokStr
		// The cursor walks on from where the token left off; the ordinal
		// position only matters for the 100,000 cap.
		perPage = min(perPage, PageTokenLimit-t.fetched)
		return s.pageLocked(now, recs, start, perPage, page, t.fetched, prev, fields, bind, mod, sortBy, sortOrder)
	}
	page = 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("INVALID_DATA", "page must be a positive integer",
				map[string]any{"param_name": "page"})
		}
		page = n
	}
	if page*perPage > DiscretePagingLimit {
		return badRequest("DISCRETE_PAGINATION_LIMIT_EXCEEDED",
			"records past the first 2000 can only be reached with page_token",
			map[string]any{"limit": DiscretePagingLimit})
	}
	start = (page - 1) * perPage
	return s.pageLocked(now, recs, start, perPage, page, start, nil, fields, bind, mod, sortBy, sortOrder)
}

func (s *Server) pageLocked(now time.Time, recs []*Record, start, perPage, page, fetched int, prev *string,
	fields []string, bind, mod, sortBy, sortOrder string) (int, any) {
	if start >= len(recs) {
		return http.StatusNoContent, nil
	}
	end := min(start+perPage, len(recs))
	out := make([]map[string]any, 0, end-start)
	for _, r := range recs[start:end] {
		out = append(out, s.project(r, fields))
	}
	info := listInfo{PerPage: perPage, Count: len(out), SortBy: sortBy, Page: page,
		PreviousPageToken: prev, SortOrder: sortOrder, MoreRecords: end < len(recs)}
	if info.MoreRecords {
		last := recs[end-1]
		t := &pageToken{module: mod, bind: bind, fetched: fetched + len(out), page: page,
			expires: now.Add(PageTokenValidity),
			cursor:  Record{ID: last.ID, CreatedTime: last.CreatedTime, ModifiedTime: last.ModifiedTime}}
		if len(s.tokens) >= 1024 {
			s.pruneTokensLocked(now)
		}
		s.tokenSeq++
		sum := sha256.Sum256(fmt.Appendf(nil, "crmsim-page-token-%d", s.tokenSeq))
		str := hex.EncodeToString(sum[:])[:48]
		s.tokens[str] = t
		exp := s.ts(t.expires)
		info.NextPageToken, info.PageTokenExpiry = &str, &exp
	}
	return http.StatusOK, listBody{Data: out, Info: info}
}

func (s *Server) pruneTokensLocked(now time.Time) {
	for k, t := range s.tokens {
		if now.Sub(t.expires) > PageTokenValidity { // keep expired ones a while to answer EXPIRED_VALUE
			delete(s.tokens, k)
		}
	}
}

func (s *Server) project(r *Record, fields []string) map[string]any {
	out := map[string]any{"id": r.ID}
	get := func(f string) any {
		switch f {
		case "Created_Time":
			return s.ts(r.CreatedTime)
		case "Modified_Time":
			return s.ts(r.ModifiedTime)
		case "Owner", "Created_By", "Modified_By":
			return simUser
		}
		return r.Fields[f]
	}
	if len(fields) == 0 {
		for k, v := range r.Fields {
			out[k] = v
		}
		for _, f := range []string{"Created_Time", "Modified_Time", "Owner", "Created_By", "Modified_By"} {
			out[f] = get(f)
		}
		return out
	}
	for _, f := range fields {
		if f != "id" {
			out[f] = get(f)
		}
	}
	return out
}

// --- insert / update / upsert ---

type writeOp int

const (
	opInsert writeOp = iota
	opUpdate
	opUpsert
)

type writeBody struct {
	Data                 []map[string]any `json:"data"`
	DuplicateCheckFields []string         `json:"duplicate_check_fields"`
}

func (s *Server) writeCall(r *http.Request, mod string, op writeOp) v8call {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return failed(http.StatusBadRequest, apiError("INVALID_DATA", "the request body could not be read", nil))
	}
	var body writeBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return failed(http.StatusBadRequest, apiError("INVALID_DATA", "the request body is not valid JSON: "+err.Error(), nil))
	}
	n := len(body.Data)
	if n == 0 {
		return failed(http.StatusBadRequest, apiError("MANDATORY_NOT_FOUND", "the data key is required",
			map[string]any{"api_name": "data", "json_path": "$.data"}))
	}
	if n > MaxWriteRecords {
		return failed(http.StatusBadRequest, apiError("LIMIT_EXCEEDED",
			fmt.Sprintf("at most %d records can be written in one call, %d given", MaxWriteRecords, n),
			map[string]any{"limit": MaxWriteRecords, "api_name": "data", "json_path": "$.data"}))
	}
	return v8call{
		cost:    (n + 9) / 10,
		complex: n > complexRecordCount,
		run:     func(now time.Time) (int, any) { return s.writeLocked(now, mod, op, body) },
	}
}

func recordError(code, msg string, details map[string]any) map[string]any {
	return map[string]any{"code": code, "details": details, "message": msg, "status": "error"}
}

// validate checks a record's fields; full also requires the mandatory
// fields (insert), otherwise only those present must not be blank (update).
func validate(mod string, i int, f map[string]any, full bool) map[string]any {
	path := func(k string) string { return fmt.Sprintf("$.data[%d].%s", i, k) }
	for _, k := range mandatoryFields[mod] {
		v, present := f[k]
		if (full || present) && blank(v) {
			return recordError("MANDATORY_NOT_FOUND", "required field not found",
				map[string]any{"api_name": k, "json_path": path(k)})
		}
	}
	for _, k := range emailFields {
		v, present := f[k]
		if !present || v == nil {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return recordError("INVALID_DATA", "invalid data",
				map[string]any{"expected_data_type": "email", "api_name": k, "json_path": path(k)})
		}
		if strings.TrimSpace(str) != "" && !ValidEmail(str) {
			return recordError("INVALID_DATA", "invalid data",
				map[string]any{"api_name": k, "json_path": path(k)})
		}
	}
	return nil
}

func (s *Server) successDetails(r *Record) map[string]any {
	return map[string]any{
		"Modified_Time":   s.ts(r.ModifiedTime),
		"Modified_By":     simUser,
		"Created_Time":    s.ts(r.CreatedTime),
		"id":              r.ID,
		"Created_By":      simUser,
		"$approval_state": "approved",
	}
}

func (s *Server) writeLocked(now time.Time, mod string, op writeOp, body writeBody) (int, any) {
	m := s.moduleLocked(mod)
	results := make([]map[string]any, 0, len(body.Data))
	ok := 0
	update := func(i int, rec map[string]any, existing *Record) map[string]any {
		if e := validate(mod, i, rec, false); e != nil {
			return e
		}
		for k, v := range rec {
			if k != "id" {
				existing.Fields[k] = v
			}
		}
		existing.ModifiedTime = now
		return map[string]any{"code": "SUCCESS", "details": s.successDetails(existing),
			"message": "record updated", "status": "success"}
	}
	insert := func(i int, rec map[string]any) map[string]any {
		if e := validate(mod, i, rec, true); e != nil {
			return e
		}
		r := s.storeLocked(m, rec, now)
		return map[string]any{"code": "SUCCESS", "details": s.successDetails(r),
			"message": "record added", "status": "success"}
	}
	for i, rec := range body.Data {
		var res map[string]any
		id := stringify(rec["id"])
		switch op {
		case opInsert:
			res = insert(i, rec)
		case opUpdate:
			switch existing := m.byID[id]; {
			case id == "":
				res = recordError("MANDATORY_NOT_FOUND", "required field not found",
					map[string]any{"api_name": "id", "json_path": fmt.Sprintf("$.data[%d].id", i)})
			case existing == nil:
				res = recordError("INVALID_DATA", "the id given seems to be invalid",
					map[string]any{"api_name": "id", "json_path": fmt.Sprintf("$.data[%d].id", i)})
			default:
				res = update(i, rec, existing)
			}
		case opUpsert:
			res = s.upsertOneLocked(m, mod, i, rec, id, body.DuplicateCheckFields, update, insert)
		}
		s.st.RecordResults[res["code"].(string)]++
		if res["status"] == "success" {
			ok++
		}
		results = append(results, res)
	}
	status := http.StatusOK
	if op == opInsert {
		status = http.StatusCreated
	}
	switch {
	case ok == 0:
		status = http.StatusBadRequest
	case ok < len(results):
		status = http.StatusMultiStatus
	}
	return status, dataBody{Data: results}
}

func (s *Server) upsertOneLocked(m *moduleStore, mod string, i int, rec map[string]any, id string, dupFields []string,
	update func(int, map[string]any, *Record) map[string]any, insert func(int, map[string]any) map[string]any) map[string]any {
	var res map[string]any
	var dupField any // JSON null unless a duplicate-check field matched
	action := "insert"
	if id != "" {
		existing := m.byID[id]
		if existing == nil {
			return recordError("INVALID_DATA", "the id given seems to be invalid",
				map[string]any{"api_name": "id", "json_path": fmt.Sprintf("$.data[%d].id", i)})
		}
		res, action = update(i, rec, existing), "update"
	} else {
		if len(dupFields) == 0 {
			dupFields = dupFieldsFor(mod)
		}
		var match *Record
	search:
		for _, f := range dupFields {
			v := stringify(rec[f])
			if v == "" {
				continue
			}
			for _, r := range m.recs {
				if strings.EqualFold(stringify(r.Fields[f]), v) {
					match, dupField = r, f
					break search
				}
			}
		}
		if match != nil {
			res, action = update(i, rec, match), "update"
		} else {
			res = insert(i, rec)
		}
	}
	if res["status"] == "success" {
		res["action"] = action
		res["duplicate_field"] = dupField
	}
	return res
}

// --- delete ---

func (s *Server) deleteCall(q url.Values, mod string) v8call {
	var ids []string
	for id := range strings.SplitSeq(q.Get("ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return failed(http.StatusBadRequest, apiError("REQUIRED_PARAM_MISSING", "the ids parameter is required",
			map[string]any{"param_name": "ids"}))
	}
	if len(ids) > MaxWriteRecords {
		return failed(http.StatusBadRequest, apiError("LIMIT_EXCEEDED",
			fmt.Sprintf("at most %d records can be deleted in one call, %d given", MaxWriteRecords, len(ids)),
			map[string]any{"limit": MaxWriteRecords, "param_name": "ids"}))
	}
	return v8call{cost: 1, run: func(time.Time) (int, any) {
		m := s.moduleLocked(mod)
		results := make([]map[string]any, 0, len(ids))
		ok := 0
		for _, id := range ids {
			var res map[string]any
			if m.delete(id) {
				ok++
				res = map[string]any{"code": "SUCCESS", "details": map[string]any{"id": id},
					"message": "record deleted", "status": "success"}
			} else {
				res = recordError("INVALID_DATA", "record not deleted", map[string]any{"id": id})
			}
			s.st.RecordResults[res["code"].(string)]++
			results = append(results, res)
		}
		status := http.StatusOK
		switch {
		case ok == 0:
			status = http.StatusBadRequest
		case ok < len(ids):
			status = http.StatusMultiStatus
		}
		return status, dataBody{Data: results}
	}}
}

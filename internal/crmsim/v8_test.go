package crmsim

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"v8 needs credits", Config{API: V8}, "CreditLimit"},
		{"v8 negative credits", Config{API: V8, CreditLimit: -1}, "CreditLimit"},
		{"v1 needs daily limit", Config{API: V1}, "DailyLimit"},
		{"unknown api", Config{API: API(7), CreditLimit: 1}, "unknown API"},
		{"negative concurrency", Config{API: V8, CreditLimit: 1, Concurrency: -1}, "Concurrency"},
		{"negative sub-concurrency", Config{API: V8, CreditLimit: 1, SubConcurrency: -1}, "Concurrency"},
		{"negative latency", Config{API: V8, CreditLimit: 1, Latency: -time.Second}, "Latency"},
		{"v8 ok", Config{API: V8, CreditLimit: 5000}, ""},
		{"v1 ok", Config{API: V1, DailyLimit: 1000}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, s)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, DefaultSubConcurrency, s.Config().SubConcurrency)
		})
	}
}

func TestDefaultZoneIsFixedPST(t *testing.T) {
	s := newV8(t)
	name, off := time.Date(2000, 7, 1, 0, 0, 0, 0, time.UTC).In(s.zone).Zone()
	assert.Equal(t, "PST", name)
	assert.Equal(t, -8*3600, off, "no daylight saving in the default zone")
}

func TestV8AuthenticationFailure(t *testing.T) {
	s := newV8(t)
	for _, h := range []string{"", "Bearer abc", "Zoho-oauthtoken ", "Zoho-oauthtoken    "} {
		t.Run(fmt.Sprintf("%q", h), func(t *testing.T) {
			req := httptestRequest(http.MethodGet, "/crm/v8/Leads?fields=Last_Name")
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			rec := serve(s, req)
			require.Equal(t, http.StatusUnauthorized, rec.Code)
			body := decode(t, rec)
			assert.Equal(t, "AUTHENTICATION_FAILURE", body["code"])
			assert.Equal(t, map[string]any{}, body["details"])
			assert.Equal(t, "error", body["status"])
			assert.NotEmpty(t, body["message"])
		})
	}
	st := s.Stats()
	assert.Zero(t, st.CreditsTotal, "unauthenticated calls are not charged")
	assert.Zero(t, st.Admitted)
}

func TestV8NotFound(t *testing.T) {
	s := newV8(t)
	for _, target := range []string{"/", "/crm/v8/", "/crm/v8/Leads/1/2", "/crm/v8/Leads/search", "/crm/private/json/Leads/getRecords?authtoken=x"} {
		rec := call(s, http.MethodGet, target, tok, nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, target)
		assert.Equal(t, "INVALID_URL_PATTERN", decode(t, rec)["code"], target)
	}
}

func TestInsertResults(t *testing.T) {
	noLast := lead(1)
	delete(noLast, "Last_Name")
	emptyLast := lead(2)
	emptyLast["Last_Name"] = "  "
	badEmail := lead(3)
	badEmail["Email"] = "ada.example.com"
	numberEmail := lead(4)
	numberEmail["Email"] = 42

	tests := []struct {
		name       string
		data       []map[string]any
		wantStatus int
		wantCodes  []string
		wantErr    map[int]map[string]any // index -> details
	}{
		{"all valid", []map[string]any{lead(10), lead(11), lead(12)}, http.StatusCreated,
			[]string{"SUCCESS", "SUCCESS", "SUCCESS"}, nil},
		{"one missing Last_Name", []map[string]any{lead(10), noLast, lead(12)}, http.StatusMultiStatus,
			[]string{"SUCCESS", "MANDATORY_NOT_FOUND", "SUCCESS"},
			map[int]map[string]any{1: {"api_name": "Last_Name", "json_path": "$.data[1].Last_Name"}}},
		{"blank Last_Name", []map[string]any{emptyLast, lead(11)}, http.StatusMultiStatus,
			[]string{"MANDATORY_NOT_FOUND", "SUCCESS"},
			map[int]map[string]any{0: {"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"}}},
		{"malformed Email", []map[string]any{lead(10), badEmail}, http.StatusMultiStatus,
			[]string{"SUCCESS", "INVALID_DATA"},
			map[int]map[string]any{1: {"api_name": "Email", "json_path": "$.data[1].Email"}}},
		{"Email of the wrong type", []map[string]any{numberEmail, lead(10)}, http.StatusMultiStatus,
			[]string{"INVALID_DATA", "SUCCESS"},
			map[int]map[string]any{0: {"api_name": "Email", "json_path": "$.data[0].Email", "expected_data_type": "email"}}},
		{"all failed answers 400 with the data array", []map[string]any{noLast}, http.StatusBadRequest,
			[]string{"MANDATORY_NOT_FOUND"},
			map[int]map[string]any{0: {"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newV8(t)
			rec := call(s, http.MethodPost, "/crm/v8/Leads", tok, map[string]any{"data": tt.data})
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			got := records(decode(t, rec))
			require.Len(t, got, len(tt.wantCodes))
			ok := 0
			for i, r := range got {
				assert.Equal(t, tt.wantCodes[i], r["code"], "record %d", i)
				if r["code"] == "SUCCESS" {
					ok++
					assert.Equal(t, "success", r["status"])
					assert.Equal(t, "record added", r["message"])
					d := r["details"].(map[string]any)
					assert.Regexp(t, zohoID, d["id"])
					assert.Regexp(t, isoWithZ, d["Created_Time"])
					assert.True(t, strings.HasSuffix(d["Created_Time"].(string), "-08:00"), d["Created_Time"])
					continue
				}
				assert.Equal(t, "error", r["status"])
				assert.Equal(t, tt.wantErr[i], r["details"], "record %d", i)
				if r["code"] == "MANDATORY_NOT_FOUND" {
					assert.Equal(t, "required field not found", r["message"])
				}
			}
			assert.Len(t, s.Records("Leads"), ok, "only the good records are stored")
			assert.Equal(t, 1, s.CreditsUsed())
		})
	}
}

func TestWriteOfMoreThan100RecordsIsRefused(t *testing.T) {
	for _, tt := range []struct{ method, path string }{
		{http.MethodPost, "/crm/v8/Leads"},
		{http.MethodPut, "/crm/v8/Leads"},
		{http.MethodPost, "/crm/v8/Leads/upsert"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			s := newV8(t)
			rec := call(s, tt.method, tt.path, tok, leads(101))
			require.Equal(t, http.StatusBadRequest, rec.Code)
			body := decode(t, rec)
			assert.Equal(t, "LIMIT_EXCEEDED", body["code"])
			assert.Equal(t, "error", body["status"])
			assert.EqualValues(t, 100, body["details"].(map[string]any)["limit"])
			assert.Empty(t, s.Records("Leads"), "nothing is processed")
			assert.Equal(t, 1, s.CreditsUsed(), "a refused request costs one credit")
		})
	}
	t.Run("delete of 101 ids", func(t *testing.T) {
		s := newV8(t)
		ids := make([]string, 101)
		for i := range ids {
			ids[i] = fmt.Sprint(idBase + int64(i))
		}
		rec := call(s, http.MethodDelete, "/crm/v8/Leads?ids="+strings.Join(ids, ","), tok, nil)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Equal(t, "LIMIT_EXCEEDED", decode(t, rec)["code"])
	})
	t.Run("exactly 100 is fine", func(t *testing.T) {
		s := newV8(t)
		rec := call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(100))
		require.Equal(t, http.StatusCreated, rec.Code)
		assert.Len(t, s.Records("Leads"), 100)
		assert.Equal(t, 10, s.CreditsUsed())
	})
}

func TestCreditCosts(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		records int
		want    int
	}{
		{"get records", http.MethodGet, "/crm/v8/Leads?fields=Last_Name", 0, 1},
		{"get records with cvid", http.MethodGet, "/crm/v8/Leads?fields=Last_Name&cvid=4876876000000087501", 0, 3},
		{"delete", http.MethodDelete, "/crm/v8/Leads?ids=4876876000000100002", 0, 1},
		{"insert 1", http.MethodPost, "/crm/v8/Leads", 1, 1},
		{"insert 9", http.MethodPost, "/crm/v8/Leads", 9, 1},
		{"insert 10", http.MethodPost, "/crm/v8/Leads", 10, 1},
		{"insert 11", http.MethodPost, "/crm/v8/Leads", 11, 2},
		{"insert 55", http.MethodPost, "/crm/v8/Leads", 55, 6},
		{"insert 100", http.MethodPost, "/crm/v8/Leads", 100, 10},
		{"upsert 25", http.MethodPost, "/crm/v8/Leads/upsert", 25, 3},
		{"bad json", http.MethodPost, "/crm/v8/Leads", -1, 1},
		{"unknown method", http.MethodPatch, "/crm/v8/Leads", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newV8(t)
			var body any
			switch {
			case tt.records > 0:
				body = leads(tt.records)
			case tt.records < 0:
				body = "{not json"
			}
			rec := call(s, tt.method, tt.target, tok, body)
			require.NotEqual(t, http.StatusTooManyRequests, rec.Code)
			assert.Equal(t, tt.want, s.CreditsUsed())
		})
	}
}

func TestCreditsHeaderFromHalfUsed(t *testing.T) {
	s := newV8(t, func(c *Config) { c.CreditLimit = 10 })
	for i := 1; i <= 10; i++ {
		rec := call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
		require.Equal(t, http.StatusNoContent, rec.Code)
		got := rec.Header().Get("X-API-CREDITS-REMAINING")
		if i < 5 {
			assert.Empty(t, got, "call %d: below 50%% used", i)
		} else {
			assert.Equal(t, fmt.Sprint(10-i), got, "call %d", i)
		}
	}
	rec := call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "0", rec.Header().Get("X-API-CREDITS-REMAINING"))
}

func TestPaging(t *testing.T) {
	s := newV8(t)
	s.Seed("Leads", 2500)
	get := func(q string) (int, map[string]any) {
		rec := call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name,Email&"+q, tok, nil)
		if rec.Code == http.StatusNoContent {
			require.Empty(t, rec.Body.Bytes())
			return rec.Code, nil
		}
		return rec.Code, decode(t, rec)
	}
	info := func(b map[string]any) map[string]any { return b["info"].(map[string]any) }

	t.Run("page 10 of 200 is the last discrete page", func(t *testing.T) {
		code, b := get("sort_order=asc&per_page=200&page=10")
		require.Equal(t, http.StatusOK, code)
		in := info(b)
		assert.EqualValues(t, 200, in["count"])
		assert.EqualValues(t, 10, in["page"])
		assert.Equal(t, true, in["more_records"])
		assert.NotEmpty(t, in["next_page_token"])
		assert.Regexp(t, isoWithZ, in["page_token_expiry"])
		recs := records(b)
		assert.Equal(t, "Record 1801", recs[0]["Last_Name"])
		assert.Equal(t, "Record 2000", recs[199]["Last_Name"])
		assert.ElementsMatch(t, []string{"id", "Last_Name", "Email"}, keys(recs[0]))
	})
	for _, q := range []string{"per_page=200&page=11", "per_page=150&page=14", "page=11"} {
		t.Run("discrete limit "+q, func(t *testing.T) {
			code, b := get(q)
			require.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, "DISCRETE_PAGINATION_LIMIT_EXCEEDED", b["code"])
			assert.Equal(t, map[string]any{"limit": float64(2000)}, b["details"])
			assert.Equal(t, "error", b["status"])
		})
	}
	t.Run("per_page 150 page 13 still inside", func(t *testing.T) {
		code, _ := get("per_page=150&page=13")
		assert.Equal(t, http.StatusOK, code)
	})
	t.Run("page_token continues past 2000", func(t *testing.T) {
		_, b := get("sort_order=asc&per_page=200&page=10")
		tk := info(b)["next_page_token"].(string)
		code, b := get("sort_order=asc&per_page=200&page_token=" + tk)
		require.Equal(t, http.StatusOK, code)
		recs := records(b)
		assert.Equal(t, "Record 2001", recs[0]["Last_Name"])
		assert.EqualValues(t, 11, info(b)["page"])
		assert.Equal(t, tk, info(b)["previous_page_token"])
	})
	t.Run("walk everything, default order newest first", func(t *testing.T) {
		seen := map[string]bool{}
		code, b := get("per_page=200")
		require.Equal(t, http.StatusOK, code)
		assert.Equal(t, "Record 2500", records(b)[0]["Last_Name"])
		for {
			for _, r := range records(b) {
				id := r["id"].(string)
				require.Regexp(t, zohoID, id)
				require.False(t, seen[id], "duplicate %s", id)
				seen[id] = true
			}
			in := info(b)
			if in["more_records"] != true {
				assert.Nil(t, in["next_page_token"])
				assert.EqualValues(t, 100, in["count"])
				break
			}
			code, b = get("per_page=200&page_token=" + in["next_page_token"].(string))
			require.Equal(t, http.StatusOK, code)
		}
		assert.Len(t, seen, 2500)
	})
	badRequests := []struct {
		name, q, code string
		details       map[string]any
	}{
		{"page with page_token", "page=2&page_token=abc", "AMBIGUITY_DURING_PROCESSING", nil},
		{"per_page too big", "per_page=201", "INVALID_DATA", map[string]any{"param_name": "per_page"}},
		{"per_page zero", "per_page=0", "INVALID_DATA", map[string]any{"param_name": "per_page"}},
		{"page zero", "page=0", "INVALID_DATA", map[string]any{"param_name": "page"}},
		{"unknown token", "page_token=nope", "INVALID_DATA", map[string]any{"param_name": "page_token"}},
		{"bad sort_by", "sort_by=Email", "INVALID_DATA", nil},
	}
	for _, tt := range badRequests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := get(tt.q)
			require.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, tt.code, b["code"])
			if tt.details != nil {
				assert.Equal(t, tt.details, b["details"])
			}
		})
	}
	t.Run("token bound to its query", func(t *testing.T) {
		_, b := get("per_page=200")
		tk := info(b)["next_page_token"].(string)
		code, b := get("per_page=100&page_token=" + tk)
		require.Equal(t, http.StatusBadRequest, code)
		assert.Equal(t, "TOKEN_BOUND_DATA_MISMATCH", b["code"])
	})
	t.Run("100000 records at most through tokens", func(t *testing.T) {
		_, b := get("per_page=200")
		tk := info(b)["next_page_token"].(string)
		s.mu.Lock()
		s.tokens[tk].fetched = PageTokenLimit
		s.mu.Unlock()
		code, b := get("per_page=200&page_token=" + tk)
		require.Equal(t, http.StatusBadRequest, code)
		assert.Equal(t, "PAGINATION_LIMIT_EXCEEDED", b["code"])
	})
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestGetRecordsFieldsAndEmptyModule(t *testing.T) {
	s := newV8(t)
	rec := call(s, http.MethodGet, "/crm/v8/Leads", tok, nil)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	b := decode(t, rec)
	assert.Equal(t, "REQUIRED_PARAM_MISSING", b["code"])
	assert.Equal(t, map[string]any{"param_name": "fields"}, b["details"])

	rec = call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
	assert.Equal(t, http.StatusNoContent, rec.Code)
	assert.Empty(t, rec.Body.Bytes())

	lenient := newV8(t, func(c *Config) { c.FieldsOptional = true })
	lenient.Seed("Contacts", 3)
	rec = call(lenient, http.MethodGet, "/crm/v8/Contacts", tok, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	r := records(decode(t, rec))[0]
	assert.Contains(t, r, "Last_Name")
	assert.Contains(t, r, "Created_Time")
	assert.Contains(t, r, "Owner")
}

func TestUpdateUpsertDelete(t *testing.T) {
	s := newV8(t)
	rec := call(s, http.MethodPost, "/crm/v8/Leads", tok, leads(3))
	require.Equal(t, http.StatusCreated, rec.Code)
	stored := s.Records("Leads")
	require.Len(t, stored, 3)
	id0, id1 := stored[0].ID, stored[1].ID

	t.Run("update", func(t *testing.T) {
		rec := call(s, http.MethodPut, "/crm/v8/Leads", tok, map[string]any{"data": []map[string]any{
			{"id": id0, "Company": "Renamed"},
			{"Company": "no id"},
			{"id": "4876876999999999999", "Company": "unknown"},
			{"id": id1, "Email": "not-an-email"},
		}})
		require.Equal(t, http.StatusMultiStatus, rec.Code)
		got := records(decode(t, rec))
		assert.Equal(t, "SUCCESS", got[0]["code"])
		assert.Equal(t, "record updated", got[0]["message"])
		assert.Equal(t, "MANDATORY_NOT_FOUND", got[1]["code"])
		assert.Equal(t, map[string]any{"api_name": "id", "json_path": "$.data[1].id"}, got[1]["details"])
		assert.Equal(t, "INVALID_DATA", got[2]["code"])
		assert.Equal(t, "INVALID_DATA", got[3]["code"])
		assert.Equal(t, "Renamed", s.Records("Leads")[0].Get("Company"))
		assert.Equal(t, "ada.tester1@example.com", s.Records("Leads")[1].Get("Email"))
	})
	t.Run("update with every record failing", func(t *testing.T) {
		rec := call(s, http.MethodPut, "/crm/v8/Leads", tok, map[string]any{"data": []map[string]any{{"Company": "x"}}})
		assert.Equal(t, http.StatusBadRequest, rec.Code)
	})
	t.Run("upsert", func(t *testing.T) {
		fresh := lead(50)
		dup := map[string]any{"Email": "ADA.TESTER2@example.com", "Company": "Dup Co"}
		rec := call(s, http.MethodPost, "/crm/v8/Leads/upsert", tok, map[string]any{"data": []map[string]any{fresh, dup}})
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		got := records(decode(t, rec))
		assert.Equal(t, "insert", got[0]["action"])
		assert.Nil(t, got[0]["duplicate_field"])
		assert.Contains(t, got[0], "duplicate_field")
		assert.Equal(t, "update", got[1]["action"])
		assert.Equal(t, "Email", got[1]["duplicate_field"])
		assert.Len(t, s.Records("Leads"), 4)
		assert.Equal(t, "Dup Co", s.Records("Leads")[2].Get("Company"))
	})
	t.Run("delete", func(t *testing.T) {
		rec := call(s, http.MethodDelete, "/crm/v8/Leads?ids="+id0+",4876876999999999999", tok, nil)
		require.Equal(t, http.StatusMultiStatus, rec.Code)
		got := records(decode(t, rec))
		assert.Equal(t, "SUCCESS", got[0]["code"])
		assert.Equal(t, map[string]any{"id": id0}, got[0]["details"])
		assert.Equal(t, "INVALID_DATA", got[1]["code"])
		assert.Len(t, s.Records("Leads"), 3)

		rec = call(s, http.MethodDelete, "/crm/v8/Leads", tok, nil)
		require.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Equal(t, "REQUIRED_PARAM_MISSING", decode(t, rec)["code"])
	})
	st := s.Stats()
	assert.Positive(t, st.RecordResults["SUCCESS"])
	assert.Positive(t, st.RecordResults["MANDATORY_NOT_FOUND"])
}

func TestConcurrentUseIsSafe(t *testing.T) {
	s := newV8(t)
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := range 10 {
				rec := call(s, http.MethodPost, "/crm/v8/Leads", fmt.Sprint("token-", w%3), leads(5))
				assert.Equal(t, http.StatusCreated, rec.Code, "worker %d call %d", w, i)
				_ = s.Stats()
				_ = s.Records("Leads")
			}
		})
	}
	wg.Wait()
	recs := s.Records("Leads")
	require.Len(t, recs, 1000)
	seen := map[string]bool{}
	for _, r := range recs {
		require.False(t, seen[r.ID])
		seen[r.ID] = true
	}
	st := s.Stats()
	assert.Equal(t, 200, st.CreditsTotal)
	assert.Equal(t, 200, st.Requests)
	assert.Equal(t, 200, st.ByStatus[http.StatusCreated])
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"ada@example.com", true},
		{"ada.lovelace+crm@mail.example.org", true},
		{"o'brien@example.net", true},
		{"_x@example.co", true},
		{"ada@example", false},
		{"ada.example.com", false},
		{"@example.com", false},
		{"ada@.example.com", false},
		{"ada lovelace@example.com", false},
		{"ada@@example.com", false},
		{"ada@example.c", false},
		{".ada@example.com", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidEmail(tt.in), tt.in)
	}
}

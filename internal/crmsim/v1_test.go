package crmsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func xmlRows(rows ...map[string]string) string {
	var b strings.Builder
	b.WriteString("<Leads>")
	for i, r := range rows {
		fmt.Fprintf(&b, `<row no="%d">`, i+1)
		for _, k := range []string{"First Name", "Last Name", "Company", "Email"} {
			if v, ok := r[k]; ok {
				fmt.Fprintf(&b, `<FL val="%s">%s</FL>`, k, v)
			}
		}
		b.WriteString("</row>")
	}
	b.WriteString("</Leads>")
	return b.String()
}

func v1Lead(i int) map[string]string {
	return map[string]string{"First Name": "Ada", "Last Name": fmt.Sprint("Tester", i),
		"Company": "Example Ltd", "Email": fmt.Sprintf("ada%d@example.com", i)}
}

func TestV1MissingAuthtoken(t *testing.T) {
	s := newV1(t)
	resp := v1Resp(t, v1Call(s, "getRecords", "", url.Values{}))
	assert.Equal(t, map[string]any{"code": "4834", "message": "Invalid Ticket Id"}, resp["error"])
	st := s.Stats()
	assert.Zero(t, st.DailyUsed, "not counted")
	assert.Equal(t, 1, st.ByCode["4834"])
}

func TestV1InsertRecords(t *testing.T) {
	noLast := v1Lead(2)
	delete(noLast, "Last Name")
	badEmail := v1Lead(3)
	badEmail["Email"] = "nobody@example"
	many := make([]map[string]string, 101)
	for i := range many {
		many[i] = v1Lead(i)
	}

	tests := []struct {
		name      string
		form      url.Values
		wantCode  string // request-level error code, "" for success
		wantSaved int
		check     func(t *testing.T, resp map[string]any)
	}{
		{
			name:      "two rows",
			form:      url.Values{"xmlData": {xmlRows(v1Lead(0), v1Lead(1))}},
			wantSaved: 2,
			check: func(t *testing.T, resp map[string]any) {
				res := resp["result"].(map[string]any)
				assert.Equal(t, "Record(s) added successfully", res["message"])
				details := res["recorddetail"].([]any)
				require.Len(t, details, 2)
				fl := details[0].(map[string]any)["FL"].([]any)
				first := fl[0].(map[string]any)
				assert.Equal(t, "Id", first["val"])
				assert.Regexp(t, zohoID, first["content"])
			},
		},
		{
			name:      "one row renders recorddetail as an object",
			form:      url.Values{"xmlData": {xmlRows(v1Lead(0))}},
			wantSaved: 1,
			check: func(t *testing.T, resp map[string]any) {
				_, isObject := resp["result"].(map[string]any)["recorddetail"].(map[string]any)
				assert.True(t, isObject)
			},
		},
		{
			name:     "a row without Last Name fails the whole request",
			form:     url.Values{"xmlData": {xmlRows(v1Lead(0), noLast)}},
			wantCode: "4401",
		},
		{
			name:     "a malformed email fails the whole request",
			form:     url.Values{"xmlData": {xmlRows(badEmail)}},
			wantCode: "4401",
		},
		{
			name:      "version 4 answers per row",
			form:      url.Values{"xmlData": {xmlRows(v1Lead(0), noLast, v1Lead(4))}, "version": {"4"}},
			wantSaved: 2,
			check: func(t *testing.T, resp map[string]any) {
				rows := resp["result"].(map[string]any)["row"].([]any)
				require.Len(t, rows, 3)
				r0, r1 := rows[0].(map[string]any), rows[1].(map[string]any)
				assert.Equal(t, "1", r0["no"])
				assert.Equal(t, "2000", r0["success"].(map[string]any)["code"])
				assert.Equal(t, "2", r1["no"])
				assert.Equal(t, "4401", r1["error"].(map[string]any)["code"])
			},
		},
		{name: "more than 100 rows", form: url.Values{"xmlData": {xmlRows(many...)}}, wantCode: "4600"},
		{name: "missing xmlData", form: url.Values{}, wantCode: "4831"},
		{name: "broken xml", form: url.Values{"xmlData": {"<Leads><row>"}}, wantCode: "4835"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newV1(t)
			resp := v1Resp(t, v1Call(s, "insertRecords", tok, tt.form))
			assert.Equal(t, "/crm/private/json/Leads/insertRecords", resp["uri"])
			if tt.wantCode != "" {
				e, ok := resp["error"].(map[string]any)
				require.True(t, ok, "%v", resp)
				assert.Equal(t, tt.wantCode, e["code"])
				assert.IsType(t, "", e["message"])
			} else {
				require.Nil(t, resp["error"], "%v", resp)
			}
			if tt.check != nil {
				tt.check(t, resp)
			}
			assert.Len(t, s.Records("Leads"), tt.wantSaved)
			assert.Equal(t, 1, s.Stats().DailyUsed)
		})
	}
}

func TestV1InsertStoresAPINames(t *testing.T) {
	s := newV1(t)
	form := url.Values{"authtoken": {tok}, "scope": {"crmapi"}, "xmlData": {xmlRows(v1Lead(7))}}
	req := httptest.NewRequest(http.MethodPost, "/crm/private/json/Leads/insertRecords", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := serve(s, req)
	require.Nil(t, v1Resp(t, rec)["error"])
	recs := s.Records("Leads")
	require.Len(t, recs, 1)
	assert.Equal(t, "Tester7", recs[0].Get("Last_Name"))
	assert.Equal(t, "ada7@example.com", recs[0].Get("Email"))
}

func TestV1GetRecords(t *testing.T) {
	s := newV1(t)
	s.Seed("Leads", 250)
	tests := []struct {
		name     string
		form     url.Values
		wantRows int
		wantCode string
		wantNo   string
	}{
		{"default 1 to 20", url.Values{}, 20, "", "1"},
		{"201 to 250", url.Values{"fromIndex": {"201"}, "toIndex": {"400"}}, 50, "", "201"},
		{"200 at most", url.Values{"fromIndex": {"1"}, "toIndex": {"200"}}, 200, "", "1"},
		{"201 is too many", url.Values{"fromIndex": {"1"}, "toIndex": {"201"}}, 0, "4600", ""},
		{"reversed", url.Values{"fromIndex": {"5"}, "toIndex": {"4"}}, 0, "4600", ""},
		{"one row", url.Values{"fromIndex": {"250"}, "toIndex": {"250"}}, 1, "", "250"},
		{"past the end", url.Values{"fromIndex": {"251"}, "toIndex": {"260"}}, 0, "4422", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := v1Resp(t, v1Call(s, "getRecords", tok, tt.form))
			switch tt.wantCode {
			case "":
			case "4422":
				assert.Equal(t, "4422", resp["nodata"].(map[string]any)["code"])
				return
			default:
				assert.Equal(t, tt.wantCode, resp["error"].(map[string]any)["code"])
				return
			}
			row := resp["result"].(map[string]any)["Leads"].(map[string]any)["row"]
			var rows []any
			if tt.wantRows == 1 {
				obj, ok := row.(map[string]any)
				require.True(t, ok, "a single row is an object")
				rows = []any{obj}
			} else {
				rows = row.([]any)
			}
			require.Len(t, rows, tt.wantRows)
			first := rows[0].(map[string]any)
			assert.Equal(t, tt.wantNo, first["no"])
			fl := first["FL"].([]any)
			assert.Equal(t, "LEADID", fl[0].(map[string]any)["val"])
			assert.Regexp(t, zohoID, fl[0].(map[string]any)["content"])
			labels := map[string]string{}
			for _, f := range fl {
				m := f.(map[string]any)
				labels[m["val"].(string)] = m["content"].(string)
			}
			assert.Contains(t, labels, "Last Name")
			assert.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, labels["Created Time"])
		})
	}
}

func TestV1UnknownMethod(t *testing.T) {
	s := newV1(t)
	resp := v1Resp(t, v1Call(s, "deleteEverything", tok, url.Values{}))
	assert.Equal(t, "4600", resp["error"].(map[string]any)["code"])
	rec := call(s, http.MethodGet, "/crm/v8/Leads?fields=Last_Name", tok, nil)
	assert.Equal(t, http.StatusNotFound, rec.Code, "a v1 server does not speak v8")
}

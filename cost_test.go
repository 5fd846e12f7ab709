package zohoquota_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zohoquota/zohoquota"
)

func newReq(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	require.NoError(t, err)
	return req
}

const api = "https://www.zohoapis.com/crm/v8"

func TestV1Cost(t *testing.T) {
	req := newReq(t, http.MethodPost, "https://crm.zoho.com/crm/private/json/Leads/insertRecords", "xmlData=...")
	assert.Equal(t, 1, zohoquota.V1Cost(req))
}

func TestCreditCost(t *testing.T) {
	tests := []struct {
		name, method, url, body string
		want                    int
	}{
		{"get records", "GET", api + "/Leads?fields=Last_Name", "", 1},
		{"get records with cvid", "GET", api + "/Leads?cvid=123&fields=Last_Name", "", 3},
		{"get one record", "GET", api + "/Leads/123", "", 1},
		{"deleted records", "GET", api + "/Leads/deleted?type=all", "", 2},
		{"insert 1", "POST", api + "/Leads", recordsBody(1), 1},
		{"insert 10", "POST", api + "/Leads", recordsBody(10), 1},
		{"insert 11", "POST", api + "/Leads", recordsBody(11), 2},
		{"insert 100", "POST", api + "/Contacts", recordsBody(100), 10},
		{"update 35", "PUT", api + "/Deals", recordsBody(35), 4},
		{"upsert 50", "POST", api + "/Leads/upsert", recordsBody(50), 5},
		{"insert empty data", "POST", api + "/Leads", `{"data":[]}`, 1},
		{"insert malformed body", "POST", api + "/Leads", `{"data":[{"Last_Name":`, 10},
		{"insert data not an array", "POST", api + "/Leads", `{"data":{"Last_Name":"x"}}`, 10},
		{"insert body not an object", "POST", api + "/Leads", `[1,2]`, 10},
		{"trailing slash and v2.1", "POST", "https://www.zohoapis.eu/crm/v2.1/Leads/", recordsBody(21), 3},
		{"delete", "DELETE", api + "/Leads?ids=1,2,3", "", 1},
		{"convert lead", "POST", api + "/Leads/123/actions/convert", `{"data":[{}]}`, 5},
		{"send mail", "POST", api + "/Leads/123/actions/send_mail", `{"data":[{}]}`, 20},
		{"merge", "POST", api + "/Contacts/123/actions/merge", `{"merge":[]}`, 50},
		{"download mail merge", "POST", api + "/Leads/123/actions/download_mail_merge", `{}`, 5},
		{"tags on one record", "POST", api + "/Leads/123/actions/add_tags", `{"tags":[{"name":"a"}]}`, 1},
		{"mass add tags by query", "POST", api + "/Leads/actions/add_tags?ids=" + ids(120) + "&tag_names=a", "", 3},
		{"mass remove tags by body", "POST", api + "/Leads/actions/remove_tags", `{"tags":[{"name":"a"}],"ids":[` + ids(51) + `]}`, 2},
		{"mass tags unknown count", "POST", api + "/Leads/actions/add_tags", `{"tags":[{"name":"a"}]}`, 10},
		{"bulk read", "POST", "https://www.zohoapis.com/crm/bulk/v8/read", `{"query":{}}`, 50},
		{"bulk write", "POST", "https://www.zohoapis.com/crm/bulk/v8/write", `{"resource":[]}`, 500},
		{"bulk read status", "GET", "https://www.zohoapis.com/crm/bulk/v8/read/1", "", 1},
		{"composite", "POST", api + "/__composite_requests", `{"__composite_requests":[{"method":"GET"}]}`, 1},
		{"composite rollback", "POST", api + "/__composite_requests", `{"rollback_on_fail":true,"__composite_requests":[]}`, 2},
		{"composite no rollback", "POST", api + "/__composite_requests", `{"rollback_on_fail":false}`, 1},
		{"coql is not a module", "POST", api + "/coql", `{"select_query":"select Last_Name from Leads"}`, 1},
		{"settings", "GET", api + "/settings/modules", "", 1},
		{"v1 path", "POST", "https://crm.zoho.com/crm/private/json/Leads/insertRecords", "", 1},
		{"not zoho", "POST", "https://example.com/upload", "x", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newReq(t, tt.method, tt.url, tt.body)
			assert.Equal(t, tt.want, zohoquota.CreditCost(req), "CreditCost(%s %s)", tt.method, tt.url)
			if tt.body != "" {
				// The body is still whole for the transport to send.
				b, err := io.ReadAll(req.Body)
				require.NoError(t, err)
				assert.Equal(t, tt.body, string(b))
			}
		})
	}
}

func ids(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = `"1"`
	}
	return strings.Join(s, ",")
}

// TestCreditCostNoGetBody: without GetBody the body is never read, and the write
// is priced as the largest Zoho accepts.
func TestCreditCostNoGetBody(t *testing.T) {
	body := &closeCounter{Reader: strings.NewReader(recordsBody(3))}
	req, err := http.NewRequest(http.MethodPost, api+"/Leads", body)
	require.NoError(t, err)
	require.Nil(t, req.GetBody)
	assert.Equal(t, 10, zohoquota.CreditCost(req))
	rest, err := io.ReadAll(req.Body)
	require.NoError(t, err)
	assert.Equal(t, recordsBody(3), string(rest), "CreditCost consumed the request body")

	req, err = http.NewRequest(http.MethodPost, api+"/__composite_requests", &closeCounter{Reader: strings.NewReader(`{}`)})
	require.NoError(t, err)
	assert.Equal(t, 2, zohoquota.CreditCost(req), "composite of unknown rollback")
}

const apisDoc = `{"__apis":[
 {"path":"/crm/v8/{module_api_name}","operation_types":[
   {"method":"GET","oauth_scope":"ZohoCRM.modules.READ","min_credits":1,"max_credits":3},
   {"method":"POST","oauth_scope":"ZohoCRM.modules.CREATE","min_credits":1,"max_credits":10},
   {"method":"DELETE","oauth_scope":"ZohoCRM.modules.DELETE","min_credits":1,"max_credits":1}]},
 {"path":"/crm/v8/{module_api_name}/{record_id}","operation_types":[
   {"method":"GET","oauth_scope":"ZohoCRM.modules.READ","min_credits":1,"max_credits":1}]},
 {"path":"/crm/v8/Leads/{record_id}/actions/convert","operation_types":[
   {"method":"POST","oauth_scope":"ZohoCRM.modules.leads.CREATE","min_credits":5,"max_credits":5}]},
 {"path":"/crm/v8/Leads/{record_id}","operation_types":[
   {"method":"get","oauth_scope":"ZohoCRM.modules.leads.READ","min_credits":2,"max_credits":2}]},
 {"path":"/crm/v8/settings/pipeline","operation_types":[
   {"method":"GET","oauth_scope":"ZohoCRM.settings.READ","min_credits":1,"max_credits":4}]},
 {"path":"/crm/v8/{module_api_name}/actions/mass_update","operation_types":[
   {"method":"POST","oauth_scope":"ZohoCRM.mass_update.UPDATE","max_credits":25}]}
]}`

func TestCostTable(t *testing.T) {
	table, err := zohoquota.ParseAPICosts(strings.NewReader(apisDoc))
	require.NoError(t, err)
	assert.Equal(t, 8, table.Len())
	tests := []struct {
		name, method, url, body string
		want                    int
	}{
		{"get records: builtin 1 within 1..3", "GET", api + "/Contacts", "", 1},
		{"get records with cvid: builtin 3", "GET", api + "/Contacts?cvid=9", "", 3},
		{"insert 25: builtin 3 within 1..10", "POST", api + "/Contacts", recordsBody(25), 3},
		{"literal Leads beats the placeholder", "GET", api + "/Leads/1", "", 2},
		{"placeholder for other modules", "GET", api + "/Deals/1", "", 1},
		{"convert", "POST", api + "/Leads/1/actions/convert", "{}", 5},
		{"unknown to the builtin table: max", "GET", api + "/settings/pipeline", "", 4},
		{"mass update: max", "POST", api + "/Deals/actions/mass_update", "{}", 25},
		{"not in the table: fallback CreditCost", "POST", api + "/Leads/1/actions/send_mail", "{}", 20},
		{"other version: fallback", "GET", "https://www.zohoapis.com/crm/v7/settings/pipeline", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, table.Cost(newReq(t, tt.method, tt.url, tt.body)), "Cost(%s %s)", tt.method, tt.url)
		})
	}
	table.Fallback = func(*http.Request) int { return 7 }
	assert.Equal(t, 7, table.Cost(newReq(t, "GET", api+"/nothing/here/at/all", "")))
}

func TestParseAPICostsErrors(t *testing.T) {
	tests := []struct {
		name, doc, wantErr string
	}{
		{"not JSON", `<html>`, "zohoquota: decode __apis response"},
		{"wrong shape", `{"__apis":{"path":"/x"}}`, "zohoquota: decode __apis response"},
		{"no list", `{"data":[]}`, `has no "__apis" list`},
		{"relative path", `{"__apis":[{"path":"crm/v8/Leads","operation_types":[]}]}`,
			`__apis entry 0: path "crm/v8/Leads": need an absolute path`},
		{"broken placeholder", `{"__apis":[{"path":"/crm/v8/{module","operation_types":[]}]}`,
			`segment "{module": a placeholder must be a whole segment`},
		{"no method", `{"__apis":[{"path":"/crm/v8/Leads","operation_types":[{"max_credits":1}]}]}`,
			"operation 0 (): need a method"},
		{"no max", `{"__apis":[{"path":"/crm/v8/Leads","operation_types":[{"method":"GET","min_credits":1}]}]}`,
			"(GET): need max_credits"},
		{"negative max", `{"__apis":[{"path":"/crm/v8/Leads","operation_types":[{"method":"GET","max_credits":-1}]}]}`,
			"max_credits -1: need 0 or more"},
		{"min above max", `{"__apis":[{"path":"/crm/v8/Leads","operation_types":[{"method":"GET","min_credits":3,"max_credits":1}]}]}`,
			"min_credits 3: need 0 to max_credits 1"},
		{"fractional credits", `{"__apis":[{"path":"/crm/v8/Leads","operation_types":[{"method":"GET","max_credits":0.5}]}]}`,
			"zohoquota: decode __apis response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := zohoquota.ParseAPICosts(strings.NewReader(tt.doc))
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestLoadAPICosts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/crm/v8/__apis":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, apisDoc)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":"OAUTH_SCOPE_MISMATCH","details":{},"message":"invalid oauth scope to access this URL","status":"error"}`)
		}
	}))
	defer srv.Close()

	table, err := zohoquota.LoadAPICosts(context.Background(), srv.Client(), srv.URL+"/crm/v8/")
	require.NoError(t, err)
	assert.Equal(t, 8, table.Len())
	assert.Equal(t, 5, table.Cost(newReq(t, "POST", srv.URL+"/crm/v8/Leads/1/actions/convert", "{}")))

	_, err = zohoquota.LoadAPICosts(context.Background(), srv.Client(), srv.URL+"/crm/v7")
	assert.ErrorContains(t, err, "401 Unauthorized")
	assert.ErrorContains(t, err, "OAUTH_SCOPE_MISMATCH")
}

func recordsBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"trigger":["workflow"],"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Last_Name":"L%d","Tags":[{"name":"a"}],"Owner":{"id":"1"}}`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// closeCounter records whether a request body was closed.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestComplexCall(t *testing.T) {
	tests := []struct {
		name, method, url, body string
		want                    bool
	}{
		{"get records", "GET", api + "/Leads?fields=Last_Name", "", false},
		{"get records with cvid", "GET", api + "/Leads?cvid=1", "", true},
		{"get records with sort_by", "GET", api + "/Leads?sort_by=id", "", true},
		{"coql", "POST", api + "/coql", `{"select_query":"x"}`, true},
		{"insert 10", "POST", api + "/Leads", recordsBody(10), false},
		{"insert 11", "POST", api + "/Leads", recordsBody(11), true},
		{"update 50", "PUT", api + "/Leads", recordsBody(50), true},
		{"upsert 11", "POST", api + "/Leads/upsert", recordsBody(11), true},
		{"convert", "POST", api + "/Leads/1/actions/convert", `{}`, true},
		{"send mail", "POST", api + "/Leads/1/actions/send_mail", `{}`, true},
		{"mass update", "POST", api + "/Leads/actions/mass_update", `{}`, true},
		{"tags", "POST", api + "/Leads/actions/add_tags?ids=1", "", false},
		{"settings", "GET", api + "/settings/modules", "", false},
		{"bulk read", "POST", "https://www.zohoapis.com/crm/bulk/v8/read", `{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, zohoquota.ComplexCall(newReq(t, tt.method, tt.url, tt.body)), "ComplexCall(%s %s)", tt.method, tt.url)
		})
	}
	req, err := http.NewRequest(http.MethodPost, api+"/Leads", &closeCounter{Reader: strings.NewReader(recordsBody(1))})
	require.NoError(t, err)
	assert.True(t, zohoquota.ComplexCall(req), "a write whose records cannot be counted is complex")
}

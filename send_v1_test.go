package zohoquota

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v1Server answers every request with body, after checking the request's form,
// and counts the requests.
func v1Server(t *testing.T, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		assert.Equal(t, "POST", r.Method)
		assert.Equal(t, "/crm/private/json/Leads/insertRecords", r.URL.Path)
		assert.Empty(t, r.URL.RawQuery, "the authtoken stays out of the URL")
		assert.NoError(t, r.ParseForm())
		assert.Equal(t, "tok", r.PostForm.Get("authtoken"))
		assert.Equal(t, "crmapi", r.PostForm.Get("scope"))
		assert.Equal(t, "4", r.PostForm.Get("version"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func v1Send[R any](srv *httptest.Server) SendFunc[R] {
	return V1Write[R](V1Target{Client: srv.Client(), BaseURL: srv.URL + "/", Module: "Leads", AuthToken: "tok"})
}

const v1Added = `{"code":"2000","details":{"FL":[{"val":"Id","content":"%s"},{"val":"Created Time","content":"2018-01-01 00:00:00"}]}}`

func TestV1Write(t *testing.T) {
	two := []map[string]string{{"Last_Name": "Doe"}, {"Company": "Acme"}}
	added := func(id string) Result { return Result{Code: "2000", Status: "success", ID: id} }
	mandatory := Result{Code: "4401", Status: "error", Message: "Unable to populate data"}
	tests := []struct {
		name    string
		batch   []map[string]string
		body    string
		want    []Result
		wantErr error
		plain   bool // an ambiguous error: none of the sentinels
	}{
		{
			name:  "all added",
			batch: two,
			body: `{"response":{"result":{"row":[{"no":"1","success":` + fmt.Sprintf(v1Added, "11") + `},{"no":"2","success":` +
				fmt.Sprintf(v1Added, "12") + `}]},"uri":"/crm/private/json/Leads/insertRecords"}}`,
			want: []Result{added("11"), added("12")},
		},
		{
			name:  "rows mapped back by no",
			batch: two,
			body: `{"response":{"result":{"row":[{"no":"2","error":{"code":"4401","details":"Unable to populate data"}},` +
				`{"no":1,"success":` + fmt.Sprintf(v1Added, "11") + `}]}}}`,
			want: []Result{added("11"), mandatory},
		},
		{
			name:  "one row is an object",
			batch: two[:1],
			body:  `{"response":{"result":{"row":{"no":"1","success":{"code":"2000","details":{"FL":{"val":"Id","content":"11"}}}}}}}`,
			want:  []Result{added("11")},
		},
		{
			name:  "one failed row is an object",
			batch: two[1:],
			body:  `{"response":{"result":{"row":{"no":"1","error":{"code":"4401","details":"Unable to populate data"}}}}}`,
			want:  []Result{mandatory},
		},
		{
			name:    "rate limit 4820",
			batch:   two,
			body:    `{"response":{"error":{"code":"4820","message":"API call cannot be completed as you have exceeded the \"rate limit\"."}}}`,
			wantErr: ErrQuotaExhausted,
		},
		{
			name:    "calls exceeded 4421",
			batch:   two,
			body:    `{"response":{"error":{"code":"4421","message":"Number of API calls exceeded"}}}`,
			wantErr: ErrQuotaExhausted,
		},
		{
			name:    "invalid ticket 4834",
			batch:   two,
			body:    `{"response":{"error":{"code":"4834","message":"Invalid Ticket Id"}}}`,
			wantErr: ErrRejected,
		},
		{
			name:    "over 100 rows 4600",
			batch:   two,
			body:    `{"response":{"error":{"code":"4600","message":"Unable to process your request."}}}`,
			wantErr: ErrRejected,
		},
		{name: "unknown code is ambiguous", batch: two, body: `{"response":{"error":{"code":"4500","message":"Internal server error"}}}`, plain: true},
		{name: "not JSON is ambiguous", batch: two, body: `<html>oops</html>`, plain: true},
		{
			name:  "result count mismatch is ambiguous",
			batch: two,
			body:  `{"response":{"result":{"row":{"no":"1","success":` + fmt.Sprintf(v1Added, "11") + `}}}}`,
			plain: true,
		},
		{
			name:  "row numbered twice is ambiguous",
			batch: two,
			body:  `{"response":{"result":{"row":[{"no":"1","success":` + fmt.Sprintf(v1Added, "11") + `},{"no":"1","success":` + fmt.Sprintf(v1Added, "12") + `}]}}}`,
			plain: true,
		},
		{
			name:  "success without id is ambiguous",
			batch: two[:1],
			body:  `{"response":{"result":{"row":{"no":"1","success":{"code":"2000","details":{"FL":[]}}}}}}`,
			plain: true,
		},
		{
			name:  "result without rows is ambiguous",
			batch: two,
			body:  `{"response":{"result":{"message":"Record(s) added successfully","recorddetail":[]}}}`,
			plain: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := v1Server(t, tt.body)
			got, err := v1Send[map[string]string](srv)(t.Context(), tt.batch)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case tt.plain:
				require.Error(t, err)
				assert.NotErrorIs(t, err, ErrNotWritten)
				assert.NotErrorIs(t, err, ErrQuotaExhausted)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestV1WriteRateLimitResetsAtMidnightPST(t *testing.T) {
	srv, _ := v1Server(t, `{"response":{"error":{"code":"4820","message":"rate limit"}}}`)
	before := time.Now()
	_, err := v1Send[map[string]string](srv)(t.Context(), []map[string]string{{"Last_Name": "Doe"}})
	var qe *QuotaError
	require.ErrorAs(t, err, &qe)
	assert.True(t, qe.Server)
	assert.Contains(t, []time.Time{NextReset(before, PST), NextReset(time.Now(), PST)}, qe.ResetAt)
}

func TestV1WriteXMLData(t *testing.T) {
	type lead struct {
		LastName string  `json:"Last_Name"`
		Company  string  `json:"Company,omitempty"`
		Revenue  float64 `json:"Annual_Revenue"`
		OptOut   bool    `json:"Email_Opt_Out"`
		Owner    *string `json:"Owner"` // null: left out
	}
	const escaped = `<Leads><row no="1"><FL val="Annual Revenue">1500.5</FL><FL val="Email Opt Out">true</FL>` +
		`<FL val="Last Name">O&#39;Brien &lt;&amp;&gt; &#34;Jr&#34;</FL></row></Leads>`
	tests := []struct {
		name string
		run  func(t *testing.T, srv *httptest.Server) error
		want string
	}{
		{
			name: "map[string]string sorted by key",
			run: func(t *testing.T, srv *httptest.Server) error {
				_, err := v1Send[map[string]string](srv)(t.Context(), []map[string]string{
					{"Last_Name": "Doe", "Company": "Acme"}, {"Last Name": "Roe"}})
				return err
			},
			want: `<Leads><row no="1"><FL val="Company">Acme</FL><FL val="Last Name">Doe</FL></row>` +
				`<row no="2"><FL val="Last Name">Roe</FL></row></Leads>`,
		},
		{
			name: "map[string]any",
			run: func(t *testing.T, srv *httptest.Server) error {
				_, err := v1Send[map[string]any](srv)(t.Context(), []map[string]any{
					{"Last_Name": `O'Brien <&> "Jr"`, "Annual_Revenue": 1500.5, "Email_Opt_Out": true, "Owner": nil}})
				return err
			},
			want: escaped,
		},
		{
			name: "struct",
			run: func(t *testing.T, srv *httptest.Server) error {
				_, err := v1Send[lead](srv)(t.Context(), []lead{{LastName: `O'Brien <&> "Jr"`, Revenue: 1500.5, OptOut: true}})
				return err
			},
			want: escaped,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.FormValue("xmlData")
				w.Write([]byte(`{"response":{"error":{"code":"4834","message":"Invalid Ticket Id"}}}`))
			}))
			defer srv.Close()
			require.ErrorIs(t, tt.run(t, srv), ErrRejected)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestV1WriteRefusedBeforeSending(t *testing.T) {
	srv, calls := v1Server(t, `{}`)
	tests := []struct {
		name    string
		module  string
		batch   []map[string]any
		wantErr error
	}{
		{name: "101 records", module: "Leads", batch: make([]map[string]any, 101), wantErr: ErrInvalidBatch},
		{name: "nested object", module: "Leads", batch: []map[string]any{{"Owner": map[string]any{"id": "1"}}}, wantErr: ErrRejected},
		{name: "unencodable", module: "Leads", batch: []map[string]any{{"f": func() {}}}, wantErr: ErrRejected},
		{name: "module not an XML name", module: "Le<ads", batch: []map[string]any{{"Last_Name": "Doe"}}, wantErr: ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := V1Write[map[string]any](V1Target{Client: srv.Client(), BaseURL: srv.URL, Module: tt.module, AuthToken: "tok"})
			_, err := send(t.Context(), tt.batch)
			require.ErrorIs(t, err, tt.wantErr)
			require.ErrorIs(t, err, ErrRejected)
		})
	}
	got, err := v1Send[map[string]any](srv)(t.Context(), nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Zero(t, calls.Load(), "nothing sent")
}

func TestV1WriteNotWritten(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: the connection is refused
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	send := V1Write[map[string]string](V1Target{Client: client, BaseURL: "http://" + addr, Module: "Leads", AuthToken: "tok"})
	_, err = send(t.Context(), []map[string]string{{"Last_Name": "Doe"}})
	require.ErrorIs(t, err, ErrNotWritten)
	assert.NotContains(t, err.Error(), "tok", "the authtoken stays out of errors")
}

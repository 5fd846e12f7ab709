package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCRM answers v8 inserts the way Zoho does, and counts every record it keeps.
type fakeCRM struct {
	mu      sync.Mutex
	written map[string]int
	calls   int
}

func (f *fakeCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ Data []map[string]any }
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || r.URL.Path != "/crm/v8/Leads" {
		w.WriteHeader(400)
		io.WriteString(w, `{"code":"INVALID_DATA","details":{},"message":"bad","status":"error"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	type res struct {
		Code    string         `json:"code"`
		Details map[string]any `json:"details"`
		Message string         `json:"message"`
		Status  string         `json:"status"`
	}
	var out []res
	partial := false
	for _, rec := range body.Data {
		if rec["Last_Name"] == nil {
			partial = true
			out = append(out, res{"MANDATORY_NOT_FOUND", map[string]any{"api_name": "Last_Name"}, "required field not found", "error"})
			continue
		}
		key := rec["Email"].(string)
		f.written[key]++
		out = append(out, res{"SUCCESS", map[string]any{"id": "id-" + key}, "record added", "success"})
	}
	if partial {
		w.WriteHeader(207)
	} else {
		w.WriteHeader(201)
	}
	json.NewEncoder(w).Encode(map[string]any{"data": out})
}

func writeLeadsCSV(t *testing.T, n int, blank map[int]bool) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("Last_Name,Company,Email\n")
	for i := range n {
		last := fmt.Sprintf("Doe%d", i)
		if blank[i] {
			last = ""
		}
		fmt.Fprintf(&b, "%s,Acme %d,lead%d@example.com\n", last, i%7, i)
	}
	path := filepath.Join(t.TempDir(), "leads.csv")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o600))
	return path
}

func TestImportAgainstFakeCRM(t *testing.T) {
	crm := &fakeCRM{written: map[string]int{}}
	srv := httptest.NewServer(crm)
	defer srv.Close()
	csvPath := writeLeadsCSV(t, 1_050, map[int]bool{4: true, 999: true})
	ck := filepath.Join(t.TempDir(), "job.json")

	// A cap of 30 credits admits 3 batches a run; with no wait allowed the run stops.
	args := []string{"import", "-file", csvPath, "-module", "Leads", "-url", srv.URL, "-checkpoint", ck,
		"-edition", "professional", "-licenses", "10", "-cap", "30", "-max-wait", "1ms", "-json"}
	var outs []importOutput
	for run := 0; run < 10; run++ {
		code, stdout, stderr := runCLI(t, args...)
		var out importOutput
		require.NoError(t, json.Unmarshal([]byte(stdout), &out), "stdout %q stderr %q", stdout, stderr)
		outs = append(outs, out)
		assert.Equal(t, out.Total, out.Confirmed+out.Failed+out.Unknown+out.Pending)
		if code == 0 {
			break
		}
		require.Equal(t, 1, code, stderr)
		assert.NotNil(t, out.ResumeAt)
		assert.Contains(t, out.Stopped, "quota exhausted")
		assert.Contains(t, stderr, "records")
	}
	require.Len(t, outs, 4)
	last := outs[3]
	assert.Equal(t, 1_048, last.Confirmed)
	assert.Equal(t, 2, last.Failed)
	assert.Equal(t, map[string]int{"MANDATORY_NOT_FOUND": 2}, last.FailedByCode)
	assert.Equal(t, []importFailure{
		{Row: 5, State: "failed", Code: "MANDATORY_NOT_FOUND", Message: "required field not found"},
		{Row: 1000, State: "failed", Code: "MANDATORY_NOT_FOUND", Message: "required field not found"},
	}, last.Problems)
	assert.Equal(t, 900, last.Resumed)
	assert.Equal(t, 11, crm.calls, "no batch sent twice")
	for i := range 1_050 {
		want := 1
		if i == 4 || i == 999 {
			want = 0
		}
		require.Equal(t, want, crm.written[fmt.Sprintf("lead%d@example.com", i)], "lead %d", i)
	}

	// A checkpoint of another file is refused.
	other := writeLeadsCSV(t, 10, nil)
	code, _, stderr := runCLI(t, "import", "-file", other, "-module", "Leads", "-url", srv.URL, "-checkpoint", ck)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "checkpoint")
}

func TestImportTextReport(t *testing.T) {
	crm := &fakeCRM{written: map[string]int{}}
	srv := httptest.NewServer(crm)
	defer srv.Close()
	csvPath := writeLeadsCSV(t, 250, map[int]bool{7: true})
	code, stdout, stderr := runCLI(t, "import", "-file", csvPath, "-module", "Leads", "-url", srv.URL)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "249 confirmed, 1 failed, 0 unknown, 0 pending of 250 records")
	assert.Contains(t, stdout, "row 8: failed MANDATORY_NOT_FOUND")
	assert.Contains(t, stdout, "3 requests, 25 credits")
	// Not a terminal: plain lines, one per tenth reached.
	assert.Contains(t, stderr, "100% 250/250 records")
	assert.NotContains(t, stderr, "\r")
}

func TestImportMissingFile(t *testing.T) {
	code, _, stderr := runCLI(t, "import", "-file", filepath.Join(t.TempDir(), "none.csv"), "-module", "Leads", "-url", "http://127.0.0.1:1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such file")
}

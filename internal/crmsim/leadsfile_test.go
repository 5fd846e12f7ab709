package crmsim

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Loading testdata/leads.csv 100 rows a call: the deliberately invalid rows
// come back as per-record errors in 207 answers, the rest is stored.
func TestLoadLeadsFile(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "testdata", "leads.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	header, rows := rows[0], rows[1:]
	require.GreaterOrEqual(t, len(rows), 10000)

	s := newV8(t, func(c *Config) { c.CreditLimit = 50000 })
	failed := 0
	for start := 0; start < len(rows); start += MaxWriteRecords {
		batch := rows[start:min(start+MaxWriteRecords, len(rows))]
		data := make([]map[string]any, len(batch))
		for i, r := range batch {
			rec := map[string]any{}
			for j, h := range header {
				if r[j] != "" {
					rec[h] = r[j]
				}
			}
			data[i] = rec
		}
		resp := call(s, http.MethodPost, "/crm/v8/Leads", tok, map[string]any{"data": data})
		require.Contains(t, []int{http.StatusCreated, http.StatusMultiStatus}, resp.Code)
		for _, r := range records(decode(t, resp)) {
			if r["status"] == "error" {
				failed++
				assert.Contains(t, []string{"MANDATORY_NOT_FOUND", "INVALID_DATA"}, r["code"])
			}
		}
	}
	assert.InDelta(t, len(rows)/200, failed, 1)
	assert.Len(t, s.Records("Leads"), len(rows)-failed)
	assert.Equal(t, (len(rows)+99)/100*10, s.CreditsUsed())
	assert.Zero(t, s.Stats().Rejected429)
}

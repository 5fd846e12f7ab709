package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const leads = "../../testdata/leads.csv"

func runImport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"-file", leads}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestImportAll(t *testing.T) {
	code, out, errOut := runImport(t)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "10500 total, 10448 written, 52 rejected by Zoho, 0 not yet written, 0 in doubt")
	assert.Contains(t, out, "MANDATORY_NOT_FOUND      26")
	assert.Contains(t, out, "INVALID_DATA             26")
	assert.Contains(t, out, "1050 of 55000 credits used")
	assert.Contains(t, errOut, "10500 / 10500 records   105 requests answered   1050 credits admitted")
}

// A quota too small for the file stops cleanly at the limit, and every record not
// written is listed and saved: nothing is lost.
func TestImportStopsAtTheLimit(t *testing.T) {
	rest := filepath.Join(t.TempDir(), "rest.csv")
	code, out, _ := runImport(t, "-cap", "400", "-rest", rest)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "400 of 400 credits used, 0 remain")
	assert.Contains(t, out, "spent:    40 requests, 400 credits", "calls refused locally never left: they are not requests")
	assert.Contains(t, out, "not yet written: rows ")
	assert.Contains(t, out, "quota exhausted")

	f, err := os.Open(rest)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	assert.Equal(t, []string{"First_Name", "Last_Name", "Company", "Email", "Phone", "Lead_Source", "City"}, rows[0])

	// Written + rejected + saved for later = every record, once.
	var total, written, rejected int
	line := out[strings.Index(out, "records:"):]
	_, err = fmt.Sscanf(line, "records:  %d total, %d written, %d rejected", &total, &written, &rejected)
	require.NoError(t, err)
	assert.Equal(t, 10500, written+rejected+len(rows)-1)
}

func TestImportV1(t *testing.T) {
	code, out, errOut := runImport(t, "-api", "v1", "-edition", "free")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "10500 total, 10448 written, 52 rejected by Zoho")
	assert.Contains(t, out, "105 of 1000 requests used")
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown edition", []string{"-edition", "gold"}, "allowed: free, standard"},
		{"unknown api", []string{"-api", "v3"}, "allowed: v8, v1"},
		{"zero licenses", []string{"-licenses", "0"}, "need at least 1"},
		{"negative cap", []string{"-cap", "-5"}, "-cap -5"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"missing file", []string{"-file", "no/such.csv"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runImport(t, tt.args...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, tt.want)
		})
	}
}

func TestURLNeedsToken(t *testing.T) {
	t.Setenv("ZOHO_ACCESS_TOKEN", "")
	code, _, errOut := runImport(t, "-url", "https://www.zohoapis.com")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "$ZOHO_ACCESS_TOKEN")
}

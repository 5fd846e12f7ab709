package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/zohoquota/zohoquota/internal/crmsim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func generate(t *testing.T, n int, seed uint64) ([]byte, int) {
	t.Helper()
	var buf bytes.Buffer
	invalid, err := Generate(&buf, n, seed)
	require.NoError(t, err)
	return buf.Bytes(), invalid
}

func TestDeterministicForASeed(t *testing.T) {
	a, _ := generate(t, 2000, 7)
	b, _ := generate(t, 2000, 7)
	c, _ := generate(t, 2000, 8)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
}

func TestRows(t *testing.T) {
	phone := regexp.MustCompile(`^\+1-\d{3}-555-01\d\d$`)
	tests := []struct {
		n           int
		wantInvalid int
	}{
		{0, 0},
		{1, 1},
		{199, 1},
		{400, 2},
		{10500, 52},
	}
	for _, tt := range tests {
		out, invalid := generate(t, tt.n, 1)
		rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, tt.n+1)
		assert.Equal(t, Header, rows[0])
		assert.Equal(t, tt.wantInvalid, invalid, "n=%d", tt.n)

		missing, malformed := 0, 0
		emails := map[string]bool{}
		for _, r := range rows[1:] {
			require.Len(t, r, len(Header))
			first, last, company, email, ph := r[0], r[1], r[2], r[3], r[4]
			assert.NotEmpty(t, first)
			assert.NotEmpty(t, company)
			assert.Regexp(t, phone, ph)
			assert.NotEmpty(t, r[5])
			assert.NotEmpty(t, r[6])
			assert.False(t, emails[email], "duplicate email %s", email)
			emails[email] = true
			switch {
			case last == "":
				missing++
				assert.True(t, crmsim.ValidEmail(email), email)
			case !crmsim.ValidEmail(email):
				malformed++
			}
			assert.True(t, strings.HasSuffix(email, "example.com") || strings.HasSuffix(email, "example.org") ||
				strings.HasSuffix(email, "example.net") || strings.Contains(email, "@example"), email)
		}
		assert.Equal(t, invalid, missing+malformed, "n=%d", tt.n)
		if tt.n >= 400 {
			assert.Positive(t, missing)
			assert.Positive(t, malformed)
		}
	}
}

func TestNegativeCount(t *testing.T) {
	_, err := Generate(&bytes.Buffer{}, -1, 1)
	assert.Error(t, err)
}

// testdata/leads.csv is this program's output for -n 10500 -seed 1.
func TestCommittedLeadsFileIsReproducible(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "leads.csv")
	committed, err := os.ReadFile(path)
	require.NoError(t, err)
	want, invalid := generate(t, 10500, 1)
	assert.True(t, bytes.Equal(want, committed),
		"testdata/leads.csv is stale: go run ./internal/genleads -n 10500 -seed 1 -o testdata/leads.csv")
	assert.Less(t, len(committed), 1_500_000)
	assert.Equal(t, 52, invalid)
}

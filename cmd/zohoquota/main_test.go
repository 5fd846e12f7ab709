package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"cap_professional_10", []string{"cap", "-edition", "professional", "-licenses", "10"}},
		{"cap_standard_10_v1", []string{"cap", "-edition", "standard", "-licenses", "10", "-api", "v1"}},
		{"cap_enterprise_addon_json", []string{"cap", "-edition", "Zoho One", "-licenses", "100", "-addon", "25000", "-json"}},
		{"plan_worked_example_v1", []string{"plan", "-op", "write", "-records", "250000", "-edition", "standard", "-licenses", "10", "-api", "v1", "-start", "2025-01-15T00:00:00-08:00"}},
		{"plan_2330_pst_v1", []string{"plan", "-op", "write", "-records", "600000", "-edition", "standard", "-licenses", "10", "-api", "v1", "-start", "2025-01-15T23:30:00-08:00"}},
		{"plan_dst_v1_used", []string{"plan", "-records", "700000", "-edition", "standard", "-licenses", "10", "-api", "v1", "-used", "1000", "-start", "2025-03-08T12:00:00-08:00"}},
		{"plan_rolling_v8", []string{"plan", "-records", "1000000", "-edition", "professional", "-licenses", "10", "-used", "20000", "-start", "2025-03-08T10:00:00-08:00"}},
		{"cap_free_1", []string{"cap", "-edition", "free", "-licenses", "1"}},
		{"plan_free_1_license_1_window", []string{"plan", "-records", "2000", "-edition", "free", "-licenses", "1", "-start", "2026-01-01T00:00:00Z"}},
		{"plan_read_v8_json", []string{"plan", "-op", "read", "-records", "12000000", "-edition", "professional", "-licenses", "10", "-start", "2025-01-15T10:00:00Z", "-json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			assert.Empty(t, stderr)
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./cmd/zohoquota -update to create it")
			assert.Equal(t, string(want), stdout)
			if strings.HasSuffix(tt.name, "_json") {
				assert.True(t, json.Valid([]byte(stdout)))
			}
		})
	}
}

func TestBadFlagsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "usage: zohoquota"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"cap", "-nope"}, "flag provided but not defined"},
		{"no edition", []string{"cap", "-licenses", "10"}, "-edition is required"},
		{"bad edition", []string{"cap", "-edition", "gold", "-licenses", "10"}, "allowed: free, standard"},
		{"zero licenses", []string{"cap", "-edition", "free"}, "-licenses 0"},
		{"bad api", []string{"cap", "-edition", "free", "-licenses", "1", "-api", "v9"}, "-api"},
		{"v1 add-on", []string{"cap", "-edition", "standard", "-licenses", "1", "-api", "v1", "-addon", "5"}, "add-on"},
		{"v1 ultimate", []string{"cap", "-edition", "ultimate", "-licenses", "1", "-api", "v1"}, "no v1 daily cap"},
		{"licenses not a number", []string{"cap", "-edition", "free", "-licenses", "ten"}, "invalid value"},
		{"extra argument", []string{"cap", "-edition", "free", "-licenses", "1", "extra"}, "unexpected arguments"},
		{"plan without records", []string{"plan", "-edition", "free", "-licenses", "1"}, "-records is required"},
		{"plan negative records", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "-5"}, "-records"},
		{"plan bad op", []string{"plan", "-op", "merge", "-edition", "free", "-licenses", "1", "-records", "5"}, "-op"},
		{"plan bad start", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "5", "-start", "tomorrow"}, "-start"},
		{"plan start where nanoseconds overflow", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "200000", "-start", "2262-04-10T00:00:00Z"}, "-start 2262-04-10T00:00:00Z: need a time in the years 1970 to 2200"},
		{"plan start in year 1", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "5", "-start", "0001-01-01T00:00:00Z"}, "need a time in the years"},
		{"plan start before 1970", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "5", "-start", "1969-12-31T23:59:59Z"}, "need a time in the years"},
		{"plan longer than a century", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "9000000000000000"}, "invalid plan"},
		{"plan negative used", []string{"plan", "-edition", "free", "-licenses", "1", "-records", "5", "-used", "-1"}, "-used"},
		{"import without file", []string{"import", "-module", "Leads"}, "-file is required"},
		{"import without module", []string{"import", "-file", "x.csv"}, "-module is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
			assert.Contains(t, stderr, "usage: zohoquota")
		})
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"cap", "-h"}, {"plan", "-help"}} {
		code, _, _ := runCLI(t, args...)
		assert.Equal(t, 0, code, "%q", args)
	}
}

// A required flag shows no default in the help.
func TestPlanHelpRecords(t *testing.T) {
	code, _, stderr := runCLI(t, "plan", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, stderr, "records in the job (required)\n")
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 windows", 1: "1 window", 2: "2 windows", 36600: "36,600 windows"} {
		assert.Equal(t, want, count(n, "window"))
	}
}

func TestPlanSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.svg")
	code, _, stderr := runCLI(t, "plan", "-records", "600000", "-edition", "standard", "-licenses", "10", "-api", "v1",
		"-start", "2025-01-15T23:30:00-08:00", "-svg", path)
	require.Equal(t, 0, code, stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err)

	// Well-formed XML, one bar per window (plus the background), the quota line labelled.
	dec := xml.NewDecoder(bytes.NewReader(data))
	rects, lines := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "line":
				lines++
			}
		}
	}
	assert.Equal(t, 1+3, rects, "background and 3 bars")
	assert.Greater(t, lines, 3)
	assert.Contains(t, string(data), "quota: 250,000 records a window")
	assert.Contains(t, string(data), "2025-01-17")
	assert.Contains(t, string(data), "Standard, 10 licenses, API v1")
	assert.Contains(t, string(data), "3 windows, finish")
}

func TestPlanSVGUnwritable(t *testing.T) {
	code, _, stderr := runCLI(t, "plan", "-records", "1", "-edition", "free", "-licenses", "1",
		"-svg", filepath.Join(t.TempDir(), "no", "such", "dir.svg"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "-svg")
}

func TestNum(t *testing.T) {
	for in, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 250000: "250,000", -1234567: "-1,234,567"} {
		assert.Equal(t, want, num(in))
	}
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/zohoquota/zohoquota"
)

// orgFlags name an organization's plan: what its quota is computed from.
type orgFlags struct {
	edition  string
	licenses int
	api      string
	addon    int
	cap      int
}

// register adds the flags, with o's values as their defaults.
func (o *orgFlags) register(fs *flag.FlagSet) {
	required := func(set bool) string {
		if set {
			return ""
		}
		return " (required)"
	}
	fs.StringVar(&o.edition, "edition", o.edition, "Zoho CRM `edition`: free, standard, professional, enterprise, ultimate"+required(o.edition != ""))
	fs.IntVar(&o.licenses, "licenses", o.licenses, "user licenses of the organization, at least 1"+required(o.licenses > 0))
	fs.StringVar(&o.api, "api", "v8", "API `version`: v1 (requests a day) or v2 to v8 (credits over a rolling 24 h)")
	fs.IntVar(&o.addon, "addon", 0, "add-on credits bought (v2+ only)")
	fs.IntVar(&o.cap, "cap", 0, "use this cap instead of the computed one (Zoho changes its numbers)")
}

// org is what orgFlags resolve to.
type org struct {
	edition  zohoquota.Edition
	licenses int
	v1       bool
	api      string
	addon    int
	quota    zohoquota.Quota
}

func (o *orgFlags) resolve() (org, error) {
	if o.edition == "" {
		return org{}, usagef("-edition is required")
	}
	e, err := zohoquota.ParseEdition(o.edition)
	if err != nil {
		return org{}, usagef("-edition: %v", err)
	}
	if o.licenses < 1 {
		return org{}, usagef("-licenses %d: need at least 1", o.licenses)
	}
	if o.addon < 0 {
		return org{}, usagef("-addon %d: need 0 or more", o.addon)
	}
	api := strings.ToLower(strings.TrimSpace(o.api))
	r := org{edition: e, licenses: o.licenses, api: api, addon: o.addon}
	switch api {
	case "v1":
		if o.addon != 0 {
			return org{}, usagef("-addon: the v1 API has no add-on credits")
		}
		r.v1 = true
		r.quota, err = zohoquota.V1Quota(e, o.licenses)
	case "v2", "v3", "v4", "v5", "v6", "v7", "v8":
		r.quota, err = zohoquota.CreditQuota(e, o.licenses, o.addon)
	default:
		return org{}, usagef("-api %q: want v1 or v2 to v8", o.api)
	}
	if err != nil {
		return org{}, usagef("%v", err)
	}
	switch {
	case o.cap < 0:
		return org{}, usagef("-cap %d: need 1 or more", o.cap)
	case o.cap > 0:
		r.quota.Limit = o.cap
	}
	return r, nil
}

func (o org) unit() string {
	if o.v1 {
		return "requests"
	}
	return "credits"
}

func (o org) resetRule() string {
	if o.v1 {
		return "daily at 00:00 PST (fixed UTC-8, 08:00 UTC); requests over the cap are refused until then"
	}
	return "rolling 24 hours: credits spent at a moment free up 24 hours later"
}

type capOutput struct {
	Edition        zohoquota.Edition `json:"edition"`
	Licenses       int               `json:"licenses"`
	API            string            `json:"api"`
	AddOnCredits   int               `json:"addon_credits"`
	Cap            int               `json:"cap"`
	Unit           string            `json:"unit"`
	Window         string            `json:"window"`
	Concurrency    int               `json:"concurrency"`
	SubConcurrency int               `json:"sub_concurrency"`
	Reset          string            `json:"reset"`
	RecordsRead    int               `json:"records_read_per_window"`
	RecordsWritten int               `json:"records_written_per_window"`
}

func runCap(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("cap", "-edition E -licenses N [-api v1|v8] [-addon N] [-json]", stderr)
	var of orgFlags
	of.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parse(fs, args); code >= 0 {
		return code
	}
	o, err := of.resolve()
	if err != nil {
		return fail(fs, err)
	}
	out := capOutput{
		Edition: o.edition, Licenses: o.licenses, API: o.api, AddOnCredits: o.addon,
		Cap: o.quota.Limit, Unit: o.unit(), Window: o.quota.Window.String(), Reset: o.resetRule(),
		RecordsRead:    recordsPerWindow(o, zohoquota.Read),
		RecordsWritten: recordsPerWindow(o, zohoquota.Write),
	}
	if !o.v1 {
		out.Concurrency = o.quota.Concurrency
		out.SubConcurrency = zohoquota.DefaultTable()[o.edition].SubConcurrency
	}
	if *asJSON {
		return writeJSON(stdout, stderr, out)
	}
	per := "a day"
	if !o.v1 {
		per = "per rolling 24 hours"
	}
	fmt.Fprintf(stdout, "Edition:      %v, %s\n", o.edition, count(o.licenses, "license"))
	fmt.Fprintf(stdout, "API:          %s\n", o.api)
	if o.addon > 0 {
		fmt.Fprintf(stdout, "Cap:          %s %s %s (%s add-on)\n", num(out.Cap), out.Unit, per, num(o.addon))
	} else {
		fmt.Fprintf(stdout, "Cap:          %s %s %s\n", num(out.Cap), out.Unit, per)
	}
	if o.v1 {
		fmt.Fprintf(stdout, "Concurrency:  no cap under v1\n")
	} else {
		fmt.Fprintf(stdout, "Concurrency:  %d calls in flight per user per OAuth client (%d for complex calls)\n", out.Concurrency, out.SubConcurrency)
	}
	fmt.Fprintf(stdout, "Reset:        %s\n", out.Reset)
	fmt.Fprintf(stdout, "Records:      %s read or %s written %s at most\n", num(out.RecordsRead), num(out.RecordsWritten), per)
	return exitOK
}

// recordsPerWindow is what a whole window admits of op.
func recordsPerWindow(o org, op zohoquota.Op) int {
	p, err := zohoquota.NewPlan(zohoquota.PlanInput{Op: op, Records: 0, Quota: o.quota, Start: time.Unix(0, 0)})
	if err != nil {
		return 0
	}
	return p.RecordsPerWindow
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "zohoquota: %v\n", err)
		return exitFail
	}
	return exitOK
}

// count says n things: count(1, "license") is "1 license", count(10, "license")
// "10 licenses".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return num(n) + " " + thing + "s"
}

// num formats n with thousands separators: 250000 -> "250,000".
func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

package crmsim

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// mandatoryFields are the system-defined mandatory fields the simulator
// checks, by module API name.
var mandatoryFields = map[string][]string{
	"Leads":    {"Last_Name"},
	"Contacts": {"Last_Name"},
	"Accounts": {"Account_Name"},
	"Deals":    {"Deal_Name"},
}

// emailFields are validated with ValidEmail when present and not blank.
var emailFields = []string{"Email", "Secondary_Email"}

// duplicateCheckFields are the system-defined upsert duplicate-check fields.
var duplicateCheckFields = map[string][]string{
	"Leads":     {"Email"},
	"Contacts":  {"Email"},
	"Accounts":  {"Account_Name"},
	"Deals":     {"Deal_Name"},
	"Campaigns": {"Campaign_Name"},
	"Products":  {"Product_Name"},
	"Vendors":   {"Vendor_Name"},
}

func dupFieldsFor(module string) []string {
	if f, ok := duplicateCheckFields[module]; ok {
		return f
	}
	return []string{"Name"}
}

// Zoho documents the pattern its email fields must match; RE2 has no
// look-ahead, so the domain's length bound (4..256) is checked apart.
var (
	emailLocal  = regexp.MustCompile(`^[+\-\p{L}\p{M}\p{N}_][\p{L}\p{M}\p{N}!#$%&'*+\-/=?^_` + "`" + `{|}~.]*$`)
	emailDomain = regexp.MustCompile(`^(?:[\p{L}\p{N}\p{M}]+(?:[\-_]*[\p{L}\p{M}\p{N}])*\.)+[\p{L}\p{M}]{2,22}$`)
)

// ValidEmail reports whether s passes the email validation Zoho CRM applies
// to email fields (the pattern in its Insert Records documentation).
func ValidEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" {
		return false
	}
	if n := utf8.RuneCountInString(domain); n < 4 || n > 256 {
		return false
	}
	return emailLocal.MatchString(local) && emailDomain.MatchString(domain)
}

func blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	default:
		return false
	}
}

var moduleName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,49}$`)

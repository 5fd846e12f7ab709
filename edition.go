package zohoquota

import (
	"fmt"
	"strconv"
	"strings"
)

// Edition is a Zoho CRM edition. The zero value is not a valid edition.
type Edition int

// The Zoho CRM editions, cheapest first.
const (
	Free Edition = iota + 1
	Standard
	Professional
	Enterprise
	Ultimate
)

var editionNames = [...]string{
	Free:         "Free",
	Standard:     "Standard",
	Professional: "Professional",
	Enterprise:   "Enterprise",
	Ultimate:     "Ultimate",
}

// editionAliases maps the other names Zoho sells an edition under to it.
var editionAliases = map[string]Edition{
	"starter":  Standard,
	"zoho one": Enterprise,
	"zohoone":  Enterprise,
	"crm plus": Ultimate,
	"crmplus":  Ultimate,
}

// ErrUnknownEdition is wrapped by every error about an edition the package does not know.
var ErrUnknownEdition = fmt.Errorf("zohoquota: unknown edition (allowed: %s)", allowedEditions())

func allowedEditions() string {
	return "free, standard (starter), professional, enterprise (zoho one), ultimate (crm plus)"
}

// ParseEdition returns the edition named by s, ignoring case and surrounding space.
// It accepts the edition names and the aliases "starter" (Standard), "zoho one"
// (Enterprise) and "crm plus" (Ultimate).
func ParseEdition(s string) (Edition, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for e := Free; e <= Ultimate; e++ {
		if name == strings.ToLower(editionNames[e]) {
			return e, nil
		}
	}
	if e, ok := editionAliases[name]; ok {
		return e, nil
	}
	return 0, fmt.Errorf("zohoquota: parse edition %q: %w", s, ErrUnknownEdition)
}

// Valid reports whether e is one of the declared editions.
func (e Edition) Valid() bool { return e >= Free && e <= Ultimate }

// String returns the edition's name, or "Edition(n)" for a value that is not an edition.
func (e Edition) String() string {
	if !e.Valid() {
		return "Edition(" + strconv.Itoa(int(e)) + ")"
	}
	return editionNames[e]
}

// MarshalText encodes the edition as its name. Unknown values are an error.
func (e Edition) MarshalText() ([]byte, error) {
	if !e.Valid() {
		return nil, fmt.Errorf("zohoquota: marshal %v: %w", e, ErrUnknownEdition)
	}
	return []byte(e.String()), nil
}

// UnmarshalText decodes an edition name as ParseEdition does.
func (e *Edition) UnmarshalText(text []byte) error {
	v, err := ParseEdition(string(text))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// MaxConcurrency is the number of API calls one user of one OAuth client may have in
// flight at once on this edition under the current (v2+) API: 5, 10, 15, 20 or 25.
// It is 0 for an unknown edition.
func (e Edition) MaxConcurrency() int {
	l, ok := defaultTable[e]
	if !ok {
		return 0
	}
	return l.Concurrency
}

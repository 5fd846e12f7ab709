// Command genleads writes made-up Zoho CRM leads as CSV, for tests and demos.
//
//	go run ./internal/genleads -n 10500 -seed 1 -o testdata/leads.csv
//
// Columns are Zoho API field names: First_Name, Last_Name, Company, Email,
// Phone, Lead_Source, City. Names are combined from small lists of common
// given names and surnames, so no row describes a real person; emails use the
// reserved example.com/.org/.net domains and phones the 555-0100..555-0199
// range reserved for fiction. About 0.5% of the rows (n/200, at least one when
// n >= 1) are invalid on purpose: half lack Last_Name, half carry a malformed
// Email. The output depends only on n and the seed.
package main

import (
	"bufio"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// Header is the CSV header row.
var Header = []string{"First_Name", "Last_Name", "Company", "Email", "Phone", "Lead_Source", "City"}

var (
	firstNames = []string{
		"Ada", "Alex", "Amara", "Ana", "Ben", "Bianca", "Caleb", "Carmen", "Chen", "Clara",
		"Daniel", "Dara", "Elena", "Eli", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo",
		"Iris", "Ivan", "Jada", "Jonas", "Kai", "Kira", "Leo", "Lina", "Marco", "Maya",
		"Nadia", "Noah", "Omar", "Olivia", "Priya", "Quinn", "Rafael", "Rosa", "Sam", "Sofia",
		"Theo", "Tara", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zane", "Zoe", "Mateo",
	}
	lastNames = []string{
		"Abbott", "Alvarez", "Baker", "Banerjee", "Brooks", "Castillo", "Chang", "Cole", "Dalton", "Diaz",
		"Ellis", "Evans", "Fischer", "Ford", "Garcia", "Grant", "Hayes", "Holm", "Ibarra", "Iyer",
		"Jensen", "Kato", "Keller", "Larsen", "Lee", "Moreau", "Morgan", "Nakamura", "Novak", "Okafor",
		"Olsen", "Park", "Patel", "Quinlan", "Reyes", "Rossi", "Sato", "Schmidt", "Silva", "Stone",
		"Tanaka", "Torres", "Ueda", "Varga", "Walsh", "Weber", "Xu", "Young", "Zhang", "Ziegler",
	}
	companyHeads = []string{
		"Acorn", "Amber", "Apex", "Beacon", "Birch", "Blue Harbor", "Brightwater", "Cedar", "Cobalt", "Copper Hill",
		"Delta", "Evergreen", "Falcon", "Foxglove", "Granite", "Harbor", "Ironwood", "Juniper", "Keystone", "Lakeside",
		"Lumen", "Maple", "Meridian", "Northwind", "Oakridge", "Orchid", "Pinecrest", "Quarry", "Redwood", "Riverbend",
		"Saffron", "Silverline", "Summit", "Tidewater", "Trillium", "Upland", "Vantage", "Willow", "Zenith", "Juno",
	}
	companyTrades = []string{
		"Analytics", "Bakery", "Builders", "Consulting", "Dental", "Design", "Energy", "Engineering", "Foods", "Freight",
		"Health", "Insurance", "Labs", "Logistics", "Marine", "Media", "Motors", "Outfitters", "Partners", "Pharma",
		"Realty", "Robotics", "Software", "Studios", "Supply", "Systems", "Textiles", "Travel", "Ventures", "Wellness",
	}
	companySuffixes = []string{"Inc", "LLC", "Ltd", "Co", "Group", "GmbH", "SA", "PLC", ""}
	domains         = []string{"example.com", "example.org", "example.net"}
	areaCodes       = []int{201, 206, 212, 303, 305, 312, 404, 415, 503, 512, 602, 617, 702, 808, 917}
	leadSources     = []string{
		"Advertisement", "Cold Call", "Employee Referral", "External Referral", "Online Store",
		"Partner", "Public Relations", "Sales Email Alias", "Seminar Partner", "Internal Seminar",
		"Trade Show", "Web Download", "Web Research", "Chat",
	}
	cities = []string{
		"Austin", "Boston", "Chicago", "Denver", "Portland", "Seattle", "San Diego", "Miami", "Atlanta", "Phoenix",
		"Toronto", "Vancouver", "Mexico City", "London", "Dublin", "Berlin", "Munich", "Paris", "Lyon", "Madrid",
		"Lisbon", "Amsterdam", "Stockholm", "Oslo", "Warsaw", "Prague", "Vienna", "Zurich", "Milan", "Athens",
		"Chennai", "Bengaluru", "Singapore", "Tokyo", "Osaka", "Seoul", "Sydney", "Melbourne", "Auckland", "Cape Town",
	}
)

// Invalid kinds.
const (
	validRow = iota
	missingLastName
	malformedEmail
)

// Generate writes the header and n rows for seed to w. It returns how many
// rows are invalid on purpose.
func Generate(w io.Writer, n int, seed uint64) (invalid int, err error) {
	if n < 0 {
		return 0, fmt.Errorf("genleads: n must not be negative, got %d", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^seed))
	kind := make([]int, n)
	bad := n / 200
	if bad == 0 && n > 0 {
		bad = 1
	}
	for i, pos := range rng.Perm(n)[:bad] {
		kind[pos] = missingLastName + i%2
	}

	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if err := cw.Write(Header); err != nil {
		return 0, err
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	row := make([]string, len(Header))
	for i := range n {
		first, last := pick(firstNames), pick(lastNames)
		company := pick(companyHeads) + " " + pick(companyTrades)
		if suf := pick(companySuffixes); suf != "" {
			company += " " + suf
		}
		local := strings.ToLower(first) + "." + strings.ToLower(last) + strconv.Itoa(i+1)
		domain := pick(domains)
		email := local + "@" + domain
		phone := fmt.Sprintf("+1-%d-555-01%02d", areaCodes[rng.IntN(len(areaCodes))], rng.IntN(100))
		source, city := pick(leadSources), pick(cities)
		switch kind[i] {
		case missingLastName:
			last = ""
			invalid++
		case malformedEmail:
			email = malform(rng, local, domain)
			invalid++
		}
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] = first, last, company, email, phone, source, city
		if err := cw.Write(row); err != nil {
			return invalid, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return invalid, err
	}
	return invalid, bw.Flush()
}

// malform returns an address Zoho's email validation rejects.
func malform(rng *rand.Rand, local, domain string) string {
	tld := domain[strings.LastIndexByte(domain, '.'):]
	switch rng.IntN(4) {
	case 0: // no top-level domain
		return local + "@" + strings.TrimSuffix(domain, tld)
	case 1: // no @
		return local + "." + domain
	case 2: // a space in the local part
		return strings.Replace(local, ".", " ", 1) + "@" + domain
	default: // two @
		return local + "@@" + domain
	}
}

func main() {
	n := flag.Int("n", 10500, "number of leads")
	seed := flag.Uint64("seed", 1, "random seed; the output depends only on -n and -seed")
	out := flag.String("o", "-", "output file, - for stdout")
	flag.Parse()

	w := io.Writer(os.Stdout)
	var f *os.File
	if *out != "-" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintln(os.Stderr, "genleads:", err)
			os.Exit(1)
		}
		w = f
	}
	invalid, err := Generate(w, *n, *seed)
	if err == nil && f != nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genleads:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "genleads: %d leads (%d invalid on purpose) written to %s\n", *n, invalid, *out)
}

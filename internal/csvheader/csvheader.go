// Package csvheader reads the header row of a record file: one Zoho field API name
// a column.
package csvheader

import (
	"encoding/csv"
	"fmt"
	"strings"
)

// Read reads the header row from r. It drops a UTF-8 byte-order mark (spreadsheet
// programs write one) and refuses empty or repeated column names, which would
// silently lose the cells under them.
func Read(r *csv.Reader) ([]string, error) {
	header, err := r.Read()
	if err != nil {
		return nil, err
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	seen := make(map[string]int, len(header))
	for i, name := range header {
		if name == "" {
			return nil, fmt.Errorf("column %d has no name: each column needs a Zoho field API name", i+1)
		}
		if j, ok := seen[name]; ok {
			return nil, fmt.Errorf("columns %d and %d are both %q: each field may appear once", j+1, i+1, name)
		}
		seen[name] = i
	}
	return header, nil
}

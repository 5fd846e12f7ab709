package csvheader

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"plain", "Last_Name,Email\nDoe,d@example.com\n", []string{"Last_Name", "Email"}, ""},
		{"byte-order mark", "\ufeffLast_Name,Email\n", []string{"Last_Name", "Email"}, ""},
		{"repeated", "Last_Name,Email,Last_Name\n", nil, `columns 1 and 3 are both "Last_Name"`},
		{"empty name", "Last_Name,,Email\n", nil, "column 2 has no name"},
		{"empty file", "", nil, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(csv.NewReader(strings.NewReader(tt.in)))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

package zohoquota

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseEdition(t *testing.T) {
	tests := []struct {
		in   string
		want Edition
	}{
		{"Free", Free},
		{"standard", Standard},
		{"  PROFESSIONAL ", Professional},
		{"Enterprise", Enterprise},
		{"ultimate", Ultimate},
		{"Starter", Standard},
		{"Zoho One", Enterprise},
		{"zohoone", Enterprise},
		{"CRM Plus", Ultimate},
		{"crmplus", Ultimate},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEdition(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "ParseEdition(%q)", tt.in)
		})
	}
}

func TestParseEditionUnknown(t *testing.T) {
	for _, in := range []string{"", "gold", "Edition(7)", "pro"} {
		_, err := ParseEdition(in)
		require.Error(t, err, "ParseEdition(%q)", in)
		assert.True(t, errors.Is(err, ErrUnknownEdition))
		assert.Contains(t, err.Error(), "allowed: free, standard")
	}
}

func TestEditionString(t *testing.T) {
	assert.Equal(t, "Professional", Professional.String())
	assert.Equal(t, "Edition(7)", Edition(7).String())
	assert.Equal(t, "Edition(0)", Edition(0).String())
}

func TestEditionText(t *testing.T) {
	for e := Free; e <= Ultimate; e++ {
		b, err := e.MarshalText()
		require.NoError(t, err)
		var got Edition
		require.NoError(t, got.UnmarshalText(b))
		assert.Equal(t, e, got)
	}
	_, err := Edition(9).MarshalText()
	assert.ErrorIs(t, err, ErrUnknownEdition)
	var e Edition
	assert.ErrorIs(t, e.UnmarshalText([]byte("platinum")), ErrUnknownEdition)
	assert.Equal(t, Edition(0), e, "a failed UnmarshalText must leave the value alone")
}

func TestMaxConcurrency(t *testing.T) {
	want := map[Edition]int{Free: 5, Standard: 10, Professional: 15, Enterprise: 20, Ultimate: 25, Edition(0): 0, Edition(6): 0}
	for e, n := range want {
		assert.Equal(t, n, e.MaxConcurrency(), "%v.MaxConcurrency()", e)
	}
}

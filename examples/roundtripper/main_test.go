package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(&out))
	got := out.String()
	assert.Contains(t, got, "page of 200 records,  2400 read, 12 of 12 credits used")
	assert.Contains(t, got, "stopped after 2400 records")
	assert.Contains(t, got, "local refusal (nothing sent): true")
	assert.Contains(t, got, "Zoho saw 12 calls and answered 429 0 times")
}

package zohoquota

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpString(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{Read, "read"},
		{Write, "write"},
		{0, "Op(0)"},
		{7, "Op(7)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.op.String(), "Op(%d).String()", int(tt.op))
	}
}

func TestParseOp(t *testing.T) {
	tests := []struct {
		in      string
		want    Op
		wantErr bool
	}{
		{"read", Read, false},
		{" WRITE ", Write, false},
		{"Write", Write, false},
		{"", 0, true},
		{"upsert", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseOp(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidBatch)
				assert.Contains(t, err.Error(), "zohoquota: ")
				assert.Contains(t, err.Error(), "read, write")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "ParseOp(%q)", tt.in)
		})
	}
}

func TestOpText(t *testing.T) {
	b, err := Write.MarshalText()
	require.NoError(t, err)
	assert.Equal(t, "write", string(b))
	var o Op
	require.NoError(t, o.UnmarshalText([]byte("read")))
	assert.Equal(t, Read, o)
	_, err = Op(9).MarshalText()
	assert.ErrorIs(t, err, ErrInvalidBatch)
	assert.Error(t, o.UnmarshalText([]byte("nope")))
}

func TestWriteBatches(t *testing.T) {
	tests := []struct {
		n    int
		want []int // batch lengths
	}{
		{0, nil},
		{1, []int{1}},
		{99, []int{99}},
		{100, []int{100}},
		{101, []int{100, 1}},
		{250, []int{100, 100, 50}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			records := make([]int, tt.n)
			for i := range records {
				records[i] = i
			}
			var lens []int
			next := 0
			for b := range WriteBatches(records) {
				lens = append(lens, len(b))
				require.NotEmpty(t, b)
				// A sub-slice of records, not a copy.
				assert.Same(t, &records[next], &b[0], "batch starting at %d is a copy", next)
				next += len(b)
			}
			assert.Equal(t, tt.want, lens, "WriteBatches(%d records)", tt.n)
			assert.Equal(t, RequestsFor(Write, tt.n), len(lens))
		})
	}
}

type leadSlice []string

func TestWriteBatchesNamedSliceType(t *testing.T) {
	var got []leadSlice
	for b := range WriteBatches(leadSlice(make([]string, 150))) {
		got = append(got, b) // b is a leadSlice, not a []string
	}
	assert.Len(t, got, 2)
}

func TestBatches(t *testing.T) {
	records := make([]int, 450)
	tests := []struct {
		size    int
		want    int // batches
		wantErr bool
	}{
		{-1, 0, true},
		{0, 0, true},
		{1, 450, false},
		{200, 3, false},
		{201, 0, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			seq, err := Batches(records, tt.size)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidBatch)
				assert.Nil(t, seq)
				return
			}
			require.NoError(t, err)
			n := 0
			for range seq {
				n++
			}
			assert.Equal(t, tt.want, n, "Batches(450 records, %d)", tt.size)
		})
	}
}

func TestBatchesFor(t *testing.T) {
	_, err := BatchesFor(Write, []int{1}, 101)
	assert.ErrorIs(t, err, ErrInvalidBatch)
	_, err = BatchesFor(Op(0), []int{1}, 0)
	assert.ErrorIs(t, err, ErrInvalidBatch)
	seq, err := BatchesFor(Read, make([]int, 401), 0)
	require.NoError(t, err)
	assert.Equal(t, 3, len(slices.Collect(seq)))
}

func TestRequestsAndCreditsFor(t *testing.T) {
	tests := []struct {
		op       Op
		n        int
		requests int
		credits  int
	}{
		{Write, -5, 0, 0},
		{Write, 0, 0, 0},
		{Write, 1, 1, 1},
		{Write, 10, 1, 1},
		{Write, 11, 1, 2},
		{Write, 100, 1, 10},
		{Write, 101, 2, 11},
		{Write, 250_000, 2_500, 25_000},
		{Read, 1, 1, 1},
		{Read, 200, 1, 1},
		{Read, 201, 2, 2},
		{Read, 100_000, 500, 500},
		{Op(0), 100, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.op, tt.n), func(t *testing.T) {
			assert.Equal(t, tt.requests, RequestsFor(tt.op, tt.n), "RequestsFor(%v, %d)", tt.op, tt.n)
			assert.Equal(t, tt.credits, CreditsFor(tt.op, tt.n), "CreditsFor(%v, %d)", tt.op, tt.n)
		})
	}
}

// CreditsFor is the sum of RequestCredits over the batches, for every n.
func TestCreditsForIsSumOverBatches(t *testing.T) {
	for _, op := range []Op{Read, Write} {
		for n := 0; n <= 1000; n++ {
			sum := 0
			for b := range slices.Chunk(make([]struct{}, n), op.MaxRecords()) {
				sum += RequestCredits(op, len(b))
			}
			require.Equal(t, sum, CreditsFor(op, n), "CreditsFor(%v, %d)", op, n)
		}
	}
}

func TestPagerSwitchesToPageToken(t *testing.T) {
	p, err := NewPager(200)
	require.NoError(t, err)
	var got []string
	page := 0
	for params := range p.Params() {
		got = append(got, params.Encode())
		page++
		info := PageInfo{PerPage: 200, Count: 200, Page: page, MoreRecords: page < 13,
			NextPageToken: "tok" + strconv.Itoa(page)}
		require.NoError(t, p.Update(info))
	}
	want := []string{}
	for i := 1; i <= 10; i++ {
		want = append(want, "page="+strconv.Itoa(i)+"&per_page=200")
	}
	// Past 2,000 records: the token of the previous response, never with page.
	want = append(want, "page_token=tok10&per_page=200", "page_token=tok11&per_page=200", "page_token=tok12&per_page=200")
	assert.Equal(t, want, got)
	assert.True(t, p.Done())
	assert.Equal(t, 13*200, p.Fetched())
}

func TestPagerOddPageSize(t *testing.T) {
	// 13 pages of 150 reach record 1,950; page 14 would end past 2,000.
	p, err := NewPager(150)
	require.NoError(t, err)
	for i := 1; i <= 13; i++ {
		v, ok := p.Next()
		require.True(t, ok)
		assert.Equal(t, strconv.Itoa(i), v.Get("page"))
		require.NoError(t, p.Update(PageInfo{Count: 150, MoreRecords: true, NextPageToken: "t"}))
	}
	v, ok := p.Next()
	require.True(t, ok)
	assert.Equal(t, "t", v.Get("page_token"))
	assert.Empty(t, v.Get("page"))
}

func TestPagerErrors(t *testing.T) {
	for _, n := range []int{0, -1, 201} {
		_, err := NewPager(n)
		assert.ErrorIs(t, err, ErrInvalidBatch, "NewPager(%d)", n)
	}
	p, err := NewPager(200)
	require.NoError(t, err)
	for range 9 {
		require.NoError(t, p.Update(PageInfo{Count: 200, MoreRecords: true}))
	}
	err = p.Update(PageInfo{Count: 200, MoreRecords: true}) // past 2,000, no token
	require.ErrorIs(t, err, ErrPaging)
	assert.True(t, p.Done())
	_, ok := p.Next()
	assert.False(t, ok)
}

func TestPagerParamsStopsWithoutUpdate(t *testing.T) {
	p, err := NewPager(10)
	require.NoError(t, err)
	n := 0
	for range p.Params() {
		n++
	}
	assert.Equal(t, 1, n)
}

package redisstore_test

import (
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota/internal/redistest"
	"go.uber.org/goleak"
)

// srv is the package's redis-server, started once by TestMain; srvErr says why
// there is none.
var (
	srv    *redistest.Server
	srvErr error
)

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		// A worker process (see multiprocess_test.go): the parent runs the server.
		os.Exit(m.Run())
	}
	srv, srvErr = redistest.Start(true)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if srv != nil {
			srv.Close()
		}
		os.Exit(code)
	}))
}

var runs atomic.Int64

// keyOf returns a budget key for t, new on every run (go test -count runs a test
// again against the same server).
func keyOf(t testing.TB) string {
	return t.Name() + "#" + strconv.FormatInt(runs.Add(1), 10)
}

// client returns a client of the package's server, closed when t ends; it skips
// t when redis-server is missing (fails it when CI is set).
func client(t testing.TB) *redis.Client {
	t.Helper()
	s := redistest.Require(t, srv, srvErr)
	c := s.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

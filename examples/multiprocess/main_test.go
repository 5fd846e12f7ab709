package main

import (
	"flag"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary serve as its own worker processes, as the command
// does, and fails the tests if a goroutine outlives them.
func TestMain(m *testing.M) {
	flag.Parse()
	if *workerID >= 0 {
		if err := work(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func TestRun(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not on PATH (apt-get install -y redis-server)")
		}
		t.Skip("redis-server not on PATH: install it with `apt-get install -y redis-server`; set CI=1 to make this a failure")
	}
	*workers, *goroutines, *credits = 3, 4, 300
	if err := run(); err != nil {
		t.Fatal(err)
	}
}

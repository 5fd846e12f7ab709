// Package redistest runs a real redis-server as a child process for tests.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotInstalled is returned by Start when no redis-server is on PATH.
var ErrNotInstalled = errors.New("redistest: redis-server not found on PATH")

// InstallHint says how to get redis-server.
const InstallHint = "install it with `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)"

// Server is a redis-server child process listening on a unix socket in its own
// temporary directory, and on a loopback TCP port when started with TCP. It keeps
// no data on disk unless stopped with StopSaving. Its methods are not safe for
// concurrent use.
type Server struct {
	Dir    string // the temporary directory: socket, log, dump
	Socket string // the unix socket path
	Addr   string // "127.0.0.1:port" when started with TCP, else ""

	bin  string
	port int
	cmd  *exec.Cmd
	log  *os.File
}

// Start starts a redis-server. With tcp it also listens on a free loopback port.
func Start(tcp bool) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", ErrNotInstalled, InstallHint)
	}
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Socket: filepath.Join(dir, "redis.sock"), bin: bin}
	if tcp {
		if s.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.Addr = "127.0.0.1:" + strconv.Itoa(s.port)
	}
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs redis-server on the server's socket and port and waits until it
// answers.
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.Dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := []string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--unixsocket", s.Socket, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", s.Dir,
	}
	cmd := exec.Command(s.bin, args...)
	// Files, not pipes: a pipe would need a copying goroutine, which goleak sees.
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	s.cmd, s.log = cmd, log
	if err := s.waitReady(10 * time.Second); err != nil {
		s.kill()
		out, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
		return fmt.Errorf("redistest: redis-server did not come up: %w\n%s", err, out)
	}
	return nil
}

func (s *Server) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	// Wait for the socket first: go-redis logs every failed dial.
	for {
		if _, err := os.Stat(s.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no socket %s", s.Socket)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.log.Close()
	s.cmd = nil
}

// Stop shuts the server down without saving; Restart brings it back empty.
func (s *Server) Stop() error { return s.stop(syscall.SIGTERM) }

// StopSaving shuts the server down after writing its data to disk, so that
// Restart brings it back with the same keys: an outage that loses nothing.
func (s *Server) StopSaving() error {
	if s.cmd == nil {
		return nil
	}
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	// The server closes the connection as it exits, so the command has no answer.
	_ = c.Do(context.Background(), "SHUTDOWN", "SAVE").Err()
	return s.wait()
}

func (s *Server) stop(sig os.Signal) error {
	if s.cmd == nil {
		return nil
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return err
	}
	return s.wait()
}

// wait waits for the process to exit, killing it after ten seconds.
func (s *Server) wait() error {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-done
	}
	s.log.Close()
	s.cmd = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		// redis-server exits 0 on SIGTERM and SHUTDOWN; anything else is worth saying.
		return fmt.Errorf("redistest: redis-server: %w", err)
	}
	return err
}

// Restart starts the server again on the same socket and port, after Stop or
// StopSaving.
func (s *Server) Restart() error {
	if s.cmd != nil {
		return errors.New("redistest: restart of a running server")
	}
	return s.start()
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rerr := os.RemoveAll(s.Dir); err == nil {
		err = rerr
	}
	return err
}

// Options returns client options for the unix socket that fail fast while the
// server is down (no command retries, one dial attempt), as tests want.
func (s *Server) Options() *redis.Options {
	return &redis.Options{Network: "unix", Addr: s.Socket, MaxRetries: -1, DialerRetries: 1}
}

// Client returns a client on the unix socket; see Options.
func (s *Server) Client() *redis.Client { return redis.NewClient(s.Options()) }

// Require returns srv when Start succeeded. When redis-server is missing it skips
// tb with a message saying how to install it, unless the environment variable CI
// is set: there a missing redis-server fails the test. Any other start error fails.
func Require(tb testing.TB, srv *Server, err error) *Server {
	tb.Helper()
	if err == nil {
		return srv
	}
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		tb.Skipf("skipping: %v; set CI=1 to make this a failure", err)
	}
	tb.Fatalf("redis-server needed: %v", err)
	return nil
}

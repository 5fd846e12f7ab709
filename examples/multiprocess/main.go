// Command multiprocess shows one Zoho org's quota shared by several processes
// through Redis: N worker processes call a simulated Zoho CRM (reads of 1 credit,
// inserts of 1 to 10) through zohoquota.Transport, each with its own limiter, all
// keeping their ledger and concurrency slots in one Redis. Together they spend the
// org's credits to the last one, and the CRM never answers 429.
//
//	go run ./examples/multiprocess                       # starts a redis-server from PATH
//	go run ./examples/multiprocess -redis 127.0.0.1:6379 # or uses yours (its keys: zohoquota-example:*)
//	go run ./examples/multiprocess -workers 8 -cap 5000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/internal/crmsim"
	"github.com/zohoquota/zohoquota/redisstore"
)

const (
	org         = "org-60012345"
	slotKey     = org + "/user-1/client-1" // Zoho counts calls in flight per user per OAuth client
	concurrency = 10
	prefix      = "zohoquota-example"
)

var (
	redisAddr  = flag.String("redis", "", "Redis address (host:port, or a unix socket path); empty starts a redis-server from PATH")
	workers    = flag.Int("workers", 4, "worker processes")
	goroutines = flag.Int("goroutines", 8, "goroutines per worker")
	credits    = flag.Int("cap", 2000, "the org's credits per rolling 24 hours")

	// Set by the parent when it starts a worker.
	workerID = flag.Int("worker", -1, "internal: run as worker `n`")
	crmURL   = flag.String("crm", "", "internal: the simulated CRM's URL")
)

// result is what a worker reports on its stdout.
type result struct {
	Worker  int `json:"worker"`
	Calls   int `json:"calls"`
	Credits int `json:"credits"`
	Refused int `json:"refused"`
	Errors  int `json:"errors"`
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if *workerID >= 0 {
		if err := work(); err != nil {
			log.Fatalf("worker %d: %v", *workerID, err)
		}
		return
	}
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	addr := *redisAddr
	if addr == "" {
		sock, stop, err := startRedis()
		if err != nil {
			return err
		}
		defer stop()
		addr = sock
	}
	c := newClient(addr)
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", addr, err)
	}
	// A fresh budget for the demonstration.
	keys, _ := c.Keys(context.Background(), prefix+":*").Result()
	if len(keys) > 0 {
		c.Del(context.Background(), keys...)
	}

	zoho, err := crmsim.Start(crmsim.Config{CreditLimit: *credits, Concurrency: concurrency, Latency: 2 * time.Millisecond})
	if err != nil {
		return err
	}
	defer zoho.Close()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("%d workers x %d goroutines, one org of %d credits, %d calls in flight; Redis at %s\n\n",
		*workers, *goroutines, *credits, concurrency, addr)
	results := make([]result, *workers)
	var wg sync.WaitGroup
	errs := make([]error, *workers)
	for i := range *workers {
		cmd := exec.Command(self, "-worker", fmt.Sprint(i), "-redis", addr, "-crm", zoho.URL,
			"-cap", fmt.Sprint(*credits), "-goroutines", fmt.Sprint(*goroutines))
		cmd.Stderr = os.Stderr
		wg.Go(func() {
			out, err := cmd.Output()
			if err == nil {
				err = json.Unmarshal(bytes.TrimSpace(lastLine(out)), &results[i])
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var total result
	fmt.Printf("%-8s %7s %8s %8s %7s\n", "worker", "calls", "credits", "refused", "errors")
	for _, r := range results {
		fmt.Printf("%-8d %7d %8d %8d %7d\n", r.Worker, r.Calls, r.Credits, r.Refused, r.Errors)
		total.Calls += r.Calls
		total.Credits += r.Credits
		total.Refused += r.Refused
		total.Errors += r.Errors
	}
	fmt.Printf("%-8s %7d %8d %8d %7d\n\n", "total", total.Calls, total.Credits, total.Refused, total.Errors)
	st := zoho.Stats()
	fmt.Printf("cap %d credits: admitted %d, over the cap %d\n", *credits, total.Credits, max(0, total.Credits-*credits))
	fmt.Printf("simulated CRM: %d credits charged, %d answers 429, at most %d calls in flight for the token (cap %d)\n",
		st.CreditsTotal, st.Rejected429, maxOf(st.MaxInFlightPerToken), concurrency)
	if total.Credits > *credits || st.Rejected429 > 0 || total.Errors > 0 {
		return errors.New("the shared quota was overrun")
	}
	return nil
}

// work is one worker process: goroutines calling the CRM until the org's credits
// are spent.
func work() error {
	c := newClient(*redisAddr)
	defer c.Close()
	store := redisstore.NewFromClient(c, redisstore.WithPrefix(prefix))
	limiter, err := zohoquota.NewLimiter(
		zohoquota.Quota{Limit: *credits, Window: zohoquota.Rolling(24 * time.Hour), Concurrency: concurrency},
		zohoquota.WithStore(store), zohoquota.WithKey(org), zohoquota.WithSlotKey(slotKey))
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &zohoquota.Transport{
		Base:    token{"1000.user-1.client-1"},
		Limiter: limiter,
		Cost:    zohoquota.CreditCost,
	}}
	var calls, spent, refused, failed atomic.Int64
	var wg sync.WaitGroup
	for range *goroutines {
		wg.Go(func() {
			// Inserts of up to 100 records cost up to 10 credits; once one is refused,
			// smaller ones are tried, down to a read of 1 credit: when even that is
			// refused, the org's credits are spent.
			most := 100
			for {
				records := 0
				if most > 0 {
					records = 1 + rand.IntN(most)
				}
				req, cost := request(records)
				resp, err := client.Do(req)
				var qe *zohoquota.QuotaError
				switch {
				case err == nil:
					resp.Body.Close()
					calls.Add(1)
					spent.Add(int64(cost))
					if resp.StatusCode >= 400 {
						failed.Add(1)
					}
				case errors.As(err, &qe):
					refused.Add(1)
					if records == 0 {
						return
					}
					most = (cost - 1) * 10 // the largest insert of fewer credits
				default:
					failed.Add(1)
					log.Printf("worker %d: %v", *workerID, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(result{
		Worker: *workerID, Calls: int(calls.Load()), Credits: int(spent.Load()),
		Refused: int(refused.Load()), Errors: int(failed.Load()),
	})
}

// request returns an insert of n leads (n > 0), or a read (n == 0), and its cost.
func request(n int) (*http.Request, int) {
	if n == 0 {
		req, _ := http.NewRequest(http.MethodGet, *crmURL+"/crm/v8/Leads?fields=Last_Name&per_page=1", nil)
		return req, zohoquota.CreditCost(req)
	}
	var body strings.Builder
	body.WriteString(`{"data":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"Last_Name":"Lead %d-%d"}`, *workerID, i)
	}
	body.WriteString(`]}`)
	req, _ := http.NewRequest(http.MethodPost, *crmURL+"/crm/v8/Leads", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", "application/json")
	return req, zohoquota.CreditCost(req)
}

// token stands in for an OAuth transport.
type token struct{ value string }

func (t token) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Zoho-oauthtoken "+t.value)
	return http.DefaultTransport.RoundTrip(req)
}

func newClient(addr string) *redis.Client {
	if strings.HasPrefix(addr, "/") {
		return redis.NewClient(&redis.Options{Network: "unix", Addr: addr})
	}
	return redis.NewClient(&redis.Options{Addr: addr})
}

// startRedis starts a redis-server from PATH on a unix socket in a temporary
// directory, with nothing saved to disk.
func startRedis() (socket string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("no redis-server on PATH: install it (apt-get install -y redis-server) or pass -redis host:port")
	}
	dir, err := os.MkdirTemp("", "zohoquota-example")
	if err != nil {
		return "", nil, err
	}
	socket = filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", socket, "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	c := newClient(socket)
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(socket); err == nil && c.Ping(context.Background()).Err() == nil {
			return socket, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("redis-server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastLine(out []byte) []byte {
	sc := bufio.NewScanner(bytes.NewReader(out))
	var last []byte
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			last = append(last[:0], sc.Bytes()...)
		}
	}
	return last
}

func maxOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}

package redisstore_test

import (
	"log"

	"github.com/redis/go-redis/v9"
	"github.com/zohoquota/zohoquota"
	"github.com/zohoquota/zohoquota/redisstore"
)

// One org's credits shared by every process that uses the same Redis and key. (This
// example is compiled, not run: it needs your Redis. The package's tests run the
// same calls against a real redis-server.)
func ExampleNewFromClient() {
	quota, err := zohoquota.CreditQuota(zohoquota.Enterprise, 25, 0)
	if err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"}) // or a ClusterClient
	defer rdb.Close()
	limiter, err := zohoquota.NewLimiter(quota,
		zohoquota.WithStore(redisstore.NewFromClient(rdb)), // lease TTL: redisstore.WithLeaseTTL
		zohoquota.WithKey("org-60012345"),
		zohoquota.WithSlotKey("org-60012345/user-1/client-1"), // calls in flight are per user per OAuth client
		zohoquota.WithFailOpen(0.1),                           // optional: while Redis is down, a tenth of the quota locally
	)
	if err != nil {
		log.Fatal(err)
	}
	_ = limiter // give it to a zohoquota.Transport, a Job, or call Wait/Acquire yourself
}

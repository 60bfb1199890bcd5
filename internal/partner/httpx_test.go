package partner_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/borderproof/borderproof/internal/partner"
)

// TestBaseTransportReusesConnections: a client called from many goroutines
// keeps its connections for the next round instead of dialling again.
func TestBaseTransportReusesConnections(t *testing.T) {
	t.Parallel()
	const workers, rounds = 16, 4
	var opened, arrived atomic.Int64
	// Each round's requests are answered only once all of them arrived, so
	// every round needs workers connections at once.
	gates := make([]chan struct{}, rounds)
	for i := range gates {
		gates[i] = make(chan struct{})
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := arrived.Add(1)
		if n%workers == 0 {
			close(gates[n/workers-1])
		}
		<-gates[(n-1)/workers]
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := &http.Client{Transport: partner.BaseTransport(partner.Deps{})}
	round := func() {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
	round()
	first := opened.Load()
	for range rounds - 1 {
		round()
	}
	if n := opened.Load() - first; n > 0 {
		t.Errorf("%d connections opened after the first round (%d in it): idle connections were dropped", n, first)
	}
}

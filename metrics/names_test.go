package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"switchboard/domain"
	"switchboard/metrics"
)

// TestDashboardAndAlertsNameServedFamilies: every switchboard_* figure the
// committed Grafana dashboard and Prometheus alerts query is one this
// package serves, so a renamed figure cannot leave them silently empty.
func TestDashboardAndAlertsNameServedFamilies(t *testing.T) {
	m := metrics.New()
	// A series of each labelled family, so that each is gathered.
	_, done := m.Operation(context.Background(), "http", "query", "Q")
	done()
	m.OperationErrors(context.Background(), "http", "query", "Q", []string{"INTERNAL"})
	m.SocketOpened("graphql-transport-ws")
	m.SubscriptionStarted("queueChanged")
	_, stored := m.StoreCall(context.Background(), "GetSettings")
	stored(errors.New("failed"))
	m.PresenceChanged(domain.Offline, domain.Online)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, f := range fams {
		served[f.GetName()] = true
	}

	dashboard, err := os.ReadFile("../deploy/grafana/switchboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(dashboard) {
		t.Fatal("the dashboard is not valid JSON")
	}
	alerts, err := os.ReadFile("../deploy/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`switchboard_[a-z_]+`)
	for file, text := range map[string][]byte{"dashboard": dashboard, "alerts": alerts} {
		found := name.FindAllString(string(text), -1)
		if len(found) == 0 {
			t.Errorf("%s: no switchboard figure named", file)
		}
		for _, n := range found {
			family := n
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if strings.HasSuffix(n, suffix) && served[strings.TrimSuffix(n, suffix)] {
					family = strings.TrimSuffix(n, suffix)
				}
			}
			if !served[family] {
				t.Errorf("%s names %s, which is not served", file, n)
			}
		}
	}
}

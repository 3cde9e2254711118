package mongostore_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/domain"
	"switchboard/server"
	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

// TestRoutingTwoInstancesOnOneReplicaSet: two server instances on one
// MongoDB, each with its jobs and its change-stream feed, take fifty first
// messages at once (distinct contacts, half through each) for five agents
// of capacity three. Exactly fifteen are routed, each once, and nobody is
// ever above three: each workspace has one router at a time (the lease),
// each routing write is conditional on the conversation's version, and
// routing only adds load here, so each agent's final load bounds every load
// they had. It needs change streams, so it runs against a real replica set
// only (SWITCHBOARD_TEST_MONGODB_URI); FerretDB runs the one-instance
// version in the API suite.
func TestRoutingTwoInstancesOnOneReplicaSet(t *testing.T) {
	if !mongotest.Real() {
		t.Skip("two instances need change streams: this runs against a real replica set named by " + mongotest.EnvURI)
	}
	ctx := context.Background()
	u, err := url.Parse(mongotest.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + mongotest.DatabaseName()
	secret := []byte("routing-test-secret-routing-test-secret")
	open := func(name string) *app.App {
		a, err := app.New(ctx, app.Config{MongoURI: u.String(), Instance: name, Keys: server.KeyConfig{Secret: secret},
			Jobs: true, Logger: mongotest.Quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Shutdown(ctx) })
		return a
	}
	one, two := open("routing-one"), open("routing-two")
	t.Cleanup(func() {
		if st, ok := one.Store().(*mongostore.Store); ok {
			_ = st.Database().Drop(ctx)
		}
	})
	svcs := []*domain.Service{one.Service(), two.Service()}
	svc := svcs[0]
	admin, err := svc.Authenticate(ctx, domain.Claims{WorkspaceID: "ws", Subject: "ada", Role: "admin", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := svc.CreateChannel(ctx, admin, "Email")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		a, err := svc.Authenticate(ctx, domain.Claims{WorkspaceID: "ws", Subject: fmt.Sprint("ag-", i), Role: "agent", Name: fmt.Sprint("Agent ", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetPresence(ctx, a, domain.Online); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetRoutingAgent(ctx, admin, ch.ID, a.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	mode, capacity := domain.RoutingBalanced, 3
	if _, err := svc.UpdateSettings(ctx, admin, domain.SettingsPatch{Routing: domain.RoutingPatch{Mode: &mode, DefaultCapacity: &capacity}}); err != nil {
		t.Fatal(err)
	}
	feed := domain.Actor{WorkspaceID: "ws", ID: "mailer", Role: domain.RoleIntegration}
	ids := make([]string, 50)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := svcs[i%2].IngestInbound(ctx, feed, domain.InboundCommand{ChannelID: ch.ID, ContactExternalID: fmt.Sprint("c-", i),
				ExternalMessageID: fmt.Sprint("m-", i), Text: "hi"})
			if err != nil {
				t.Error(err)
			}
			ids[i] = r.ConversationID
		}()
	}
	wg.Wait()
	routed := func() int {
		counts, err := svc.NewLoads(ctx, "ws")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range counts {
			if c.OwnerID != "" {
				n += c.Count
			}
		}
		return n
	}
	waitFor(t, "fifteen are routed", 30*time.Second, func() bool { return routed() >= 15 })
	per := map[string]int{}
	for _, id := range ids {
		h, err := one.Store().ListHistory(ctx, domain.HistoryQuery{WorkspaceID: "ws", ConversationID: id, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range h {
			if e.Reason == domain.ReasonRouting {
				n++
				per[e.ToID]++
			}
		}
		if n > 1 {
			t.Errorf("%s routed %d times", id, n)
		}
	}
	for i := range 5 {
		if id := fmt.Sprint("ag-", i); per[id] != 3 {
			t.Errorf("%s was routed %d, want 3", id, per[id])
		}
	}
	if n := routed(); n != 15 {
		t.Errorf("%d routed, want 15", n)
	}
}

package mongostore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongostore "switchboard/store/mongo"
	"switchboard/store/mongo/mongotest"
)

func TestOpenFailsFastWithAClearError(t *testing.T) {
	free, err := mongotest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	const password = "s3cr3t-pa55"
	for _, tc := range []struct {
		name, uri string
		want      []string
	}{
		{"nothing listens at the address", "mongodb://switchboard:" + password + "@" + free + "/sb?authSource=admin",
			[]string{free, "no answer from a MongoDB primary", "within 2s"}},
		{"not a MongoDB URI", "postgres://switchboard:" + password + "@localhost/db", []string{"invalid MongoDB URI"}},
		{"an option with a bad value", "mongodb://switchboard:" + password + "@localhost/?w=majority&connectTimeoutMS=soon",
			[]string{"invalid MongoDB URI", "connecttimeoutms"}},
		{"an empty URI", "", []string{"invalid MongoDB URI"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			s, err := mongostore.Open(ctx, tc.uri, mongostore.Options{OpTimeout: 2 * time.Second, Logger: mongotest.Quiet})
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
			if took > 10*time.Second {
				t.Errorf("Open took %s to fail", took)
			}
		})
	}
}

func TestMigrateIsIdempotentAndSaysWhatItDid(t *testing.T) {
	s := mongotest.New(t, mongostore.Options{})
	first := s.MigrationReport()
	if len(first.Created) != 34 || first.Present != 0 {
		t.Errorf("the first Migrate created %d things (%d present): %v; want 14 collections and 20 indexes", len(first.Created), first.Present, first.Created)
	}
	again, err := s.Migrate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Created) != 0 || again.Present != 34 {
		t.Errorf("Migrate again created %v (%d present), want nothing (34 present)", again.Created, again.Present)
	}
	if !strings.Contains(again.String(), "nothing created") {
		t.Errorf("report of a second Migrate:\n%s", again)
	}
	for _, r := range []mongostore.Report{first, again} {
		if mongotest.Real() {
			if len(r.Enabled) != 3 || len(r.Skipped) != 0 {
				t.Errorf("on MongoDB, want pre- and post-images on conversations, agents and activity, nothing skipped:\n%s", r)
			}
			continue
		}
		if len(r.Skipped) != 1 || !strings.Contains(r.Skipped[0].Why, "FerretDB") || !strings.Contains(r.String(), "cost:") {
			t.Errorf("on FerretDB, want the pre- and post-images skipped with the reason and the cost:\n%s", r)
		}
	}
	// No index is partial, sparse or TTL: FerretDB refuses those, and
	// nothing here expires by itself.
	for _, coll := range []string{"settings", "agents", "channels", "contacts", "conversations", "messages", "history", "acks"} {
		cur, err := s.Database().Collection(coll).Indexes().List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var specs []bson.Raw
		if err := cur.All(context.Background(), &specs); err != nil {
			t.Fatal(err)
		}
		for _, sp := range specs {
			for _, opt := range []string{"partialFilterExpression", "expireAfterSeconds", "sparse"} {
				if _, err := sp.LookupErr(opt); err == nil {
					t.Errorf("index of %s has %s: %s", coll, opt, sp)
				}
			}
		}
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"switchboard/domain"
)

// PlanLine is one node of a query plan.
type PlanLine struct {
	ID, Parent int
	Detail     string
}

func explain(ctx context.Context, d *sql.DB, query string, args ...any) ([]PlanLine, error) {
	rows, err := d.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PlanLine
	for rows.Next() {
		var l PlanLine
		var unused int
		if err := rows.Scan(&l.ID, &l.Parent, &unused, &l.Detail); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func showPlan(query string, plan []PlanLine) string {
	var b strings.Builder
	b.WriteString(query)
	for _, l := range plan {
		fmt.Fprintf(&b, "\n  %d<-%d %s", l.ID, l.Parent, l.Detail)
	}
	return b.String()
}

// tableScan matches a plan node that reads a whole table or index, as
// opposed to a SEARCH of a key range ("SCAN (subquery-1)" and "SCAN 2-ROW
// VALUES CLAUSE" read what the statement itself built).
var tableScan = regexp.MustCompile(`^SCAN [A-Za-z_]`)

// CheckPlan reports what is wrong with a statement's plan: a table read
// whole, a search without an index, or a sort of rows that a queue index
// would deliver in order. A sort of the merged arms of a UNION ALL is
// allowed: each arm is a LIMITed index range, so it sorts a page's worth.
func CheckPlan(plan []PlanLine) []string {
	var problems []string
	coroutines := map[int]bool{}
	for _, l := range plan {
		if strings.HasPrefix(l.Detail, "CO-ROUTINE") {
			coroutines[l.ID] = true
		}
	}
	merged := false
	for _, l := range plan {
		merged = merged || strings.HasPrefix(l.Detail, "MERGE (UNION ALL)")
	}
	for _, l := range plan {
		switch {
		case tableScan.MatchString(l.Detail) && !strings.HasPrefix(l.Detail, "SCAN CONSTANT ROW"):
			problems = append(problems, "reads a whole table: "+l.Detail)
		case strings.HasPrefix(l.Detail, "SEARCH") && !strings.Contains(l.Detail, " USING "):
			problems = append(problems, "searches without an index: "+l.Detail)
		case strings.HasPrefix(l.Detail, "USE TEMP B-TREE") && (!merged || coroutines[l.Parent]):
			problems = append(problems, "sorts: "+l.Detail)
		}
	}
	return problems
}

// TestQueuePlansReadAnIndexInOrder checks the plan of every shape of queue
// page and count.
func TestQueuePlansReadAnIndexInOrder(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFile(ctx, filepath.Join(t.TempDir(), DBFile), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owners := []struct {
		name string
		p    domain.OwnerPredicate
	}{
		{"unowned", domain.OwnerPredicate{Unowned: true}},
		{"owned by me", domain.OwnerPredicate{Owners: []string{"me"}}},
		{"owned by others", domain.OwnerPredicate{AnyOwner: true, Except: []string{"me"}}},
		{"three owners", domain.OwnerPredicate{Owners: []string{"a", "b", "c"}}},
		{"unowned or mine", domain.OwnerPredicate{Unowned: true, Owners: []string{"me"}}},
		{"unowned or others'", domain.OwnerPredicate{Unowned: true, AnyOwner: true, Except: []string{"me"}}},
		{"owned", domain.OwnerPredicate{AnyOwner: true}},
		{"all", domain.OwnerPredicate{Unowned: true, AnyOwner: true}},
		{"many owners", domain.OwnerPredicate{Owners: strings.Fields("a b c d e f g h i j k l m n o p q r")}},
	}
	after := &domain.QueueKey{WaitingSince: time.UnixMilli(1_700_000_000_000), ID: "cv_x"}
	for _, o := range owners {
		for _, channels := range [][]string{nil, {"ch1"}, {"ch1", "ch2"}} {
			for _, order := range []domain.QueueOrder{domain.LongestWaiting, domain.Newest} {
				for _, a := range []*domain.QueueKey{nil, after} {
					q := domain.QueueQuery{WorkspaceID: "ws", Status: domain.StatusNew, Owners: o.p, ChannelIDs: channels, Order: order, After: a, Limit: 26}
					name := fmt.Sprintf("%s, %d channels, %s, after=%v", o.name, len(channels), order, a != nil)
					p := planQueue(q)
					page, args := p.pageSQL(q)
					plan, err := explain(ctx, s.r, page, args...)
					if err != nil {
						t.Fatalf("%s: %v\n%s", name, err, page)
					}
					for _, problem := range CheckPlan(plan) {
						t.Errorf("%s: page %s\n%s", name, problem, showPlan(page, plan))
					}
					// One owner or one channel is one index range read in
					// order: no sort at all, not even of a page.
					if len(p.armVals) <= 1 {
						for _, l := range plan {
							if strings.Contains(l.Detail, "TEMP B-TREE") {
								t.Errorf("%s: a single range sorts\n%s", name, showPlan(page, plan))
							}
						}
					}
					count, args, none := countSQL(q)
					if none {
						continue
					}
					checkCountPlan(t, s, name, count, args)
				}
			}
		}
	}
}

// checkCountPlan checks that a count reads only the badge counts, as a
// range of their primary key.
func checkCountPlan(t *testing.T, s *Store, name, count string, args []any) {
	t.Helper()
	plan, err := explain(context.Background(), s.r, count, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, count)
	}
	for _, problem := range CheckPlan(plan) {
		t.Errorf("%s: count %s\n%s", name, problem, showPlan(count, plan))
	}
	for _, l := range plan {
		if !strings.HasPrefix(l.Detail, "SEARCH queue_counts USING PRIMARY KEY (workspace_id=? AND status=?") &&
			!strings.HasPrefix(l.Detail, "SEARCH queue_owner_counts USING PRIMARY KEY (workspace_id=? AND status=?") {
			t.Errorf("%s: a count reads more than the badge counts of its queue\n%s", name, showPlan(count, plan))
		}
	}
}

// TestCountOwnersPlanReadsTheBadgeCounts checks the plan of queueCounts'
// count per owner.
func TestCountOwnersPlanReadsTheBadgeCounts(t *testing.T) {
	s, err := OpenFile(context.Background(), filepath.Join(t.TempDir(), DBFile), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, channels := range [][]string{nil, {"ch1"}, {"ch1", "ch2"}} {
		query, args := countOwnersSQL("ws", domain.StatusNew, channels)
		checkCountPlan(t, s, fmt.Sprintf("%d channels", len(channels)), query, args)
	}
}

func TestCheckPlanCatchesScansAndSorts(t *testing.T) {
	ctx := context.Background()
	s, err := OpenFile(ctx, filepath.Join(t.TempDir(), DBFile), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, query := range []string{
		`SELECT id FROM conversations WHERE status = 'NEW'`,
		`SELECT id FROM conversations WHERE workspace_id = 'ws' ORDER BY waiting_since`,
		`SELECT id FROM messages WHERE text = 'x'`,
	} {
		plan, err := explain(ctx, s.r, query)
		if err != nil {
			t.Fatal(err)
		}
		if len(CheckPlan(plan)) == 0 {
			t.Errorf("CheckPlan found nothing wrong with\n%s", showPlan(query, plan))
		}
	}
}

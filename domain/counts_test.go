package domain

import "testing"

// One count per owner stands for every caller: For moves the caller's own
// conversations from ownedByOthers to ownedByMe and leaves the rest.
func TestQueueCountsForEachCaller(t *testing.T) {
	base := QueueCounts{Total: 6, Unowned: 1, OwnedByOthers: 5, ByOwner: []OwnerCount{{"ben", 3}, {"cleo", 2}}}
	for _, tc := range []struct {
		me                string
		mine, others, all int
	}{{"ben", 3, 2, 6}, {"cleo", 2, 3, 6}, {"dev", 0, 5, 6}} {
		got := base.For(tc.me)
		if got.OwnedByMe != tc.mine || got.OwnedByOthers != tc.others || got.Total != tc.all || got.Unowned != 1 || len(got.ByOwner) != 2 {
			t.Errorf("%s: %+v", tc.me, got)
		}
	}
	if base.OwnedByMe != 0 || base.OwnedByOthers != 5 {
		t.Errorf("For changed the counts it was given: %+v", base)
	}
	if !base.For("ben").Same(base.For("ben")) || base.For("ben").Same(base.For("cleo")) {
		t.Error("Same")
	}
	moved := base
	moved.ByOwner = []OwnerCount{{"ben", 2}, {"cleo", 3}}
	if moved.Same(base) {
		t.Error("counts with other owners' counts are not the same")
	}
}

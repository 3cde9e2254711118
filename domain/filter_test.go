package domain

import (
	"reflect"
	"testing"
)

func TestOwnershipFilterResolve(t *testing.T) {
	tests := []struct {
		name string
		f    *OwnershipFilter
		want OwnerPredicate
		// matches lists, for owners "", "me", "ann", "bob", whether they match.
		matches [4]bool
	}{
		{"no filter matches everything", nil, OwnerPredicate{Unowned: true, AnyOwner: true}, [4]bool{true, true, true, true}},
		{"an empty filter matches everything", &OwnershipFilter{}, OwnerPredicate{Unowned: true, AnyOwner: true}, [4]bool{true, true, true, true}},
		{"unowned", &OwnershipFilter{Unowned: true}, OwnerPredicate{Unowned: true}, [4]bool{true, false, false, false}},
		{"owned by me", &OwnershipFilter{OwnedByMe: true}, OwnerPredicate{Owners: []string{"me"}}, [4]bool{false, true, false, false}},
		{"owned by others", &OwnershipFilter{OwnedByOthers: true}, OwnerPredicate{AnyOwner: true, Except: []string{"me"}}, [4]bool{false, false, true, true}},
		{"owned by me and by others is every owned one (Select all)", &OwnershipFilter{OwnedByMe: true, OwnedByOthers: true},
			OwnerPredicate{AnyOwner: true}, [4]bool{false, true, true, true}},
		{"named agents", &OwnershipFilter{OwnerIDs: []string{"bob", "ann", "bob"}}, OwnerPredicate{Owners: []string{"ann", "bob"}}, [4]bool{false, false, true, true}},
		{"unowned or owned by me", &OwnershipFilter{Unowned: true, OwnedByMe: true}, OwnerPredicate{Unowned: true, Owners: []string{"me"}}, [4]bool{true, true, false, false}},
		{"others plus me named is every owned one", &OwnershipFilter{OwnedByOthers: true, OwnerIDs: []string{"me"}}, OwnerPredicate{AnyOwner: true}, [4]bool{false, true, true, true}},
		{"unowned, me and ann", &OwnershipFilter{Unowned: true, OwnedByMe: true, OwnerIDs: []string{"ann"}},
			OwnerPredicate{Unowned: true, Owners: []string{"ann", "me"}}, [4]bool{true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f.Resolve("me")
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Resolve = %+v, want %+v", got, tt.want)
			}
			for i, owner := range []string{"", "me", "ann", "bob"} {
				if got.Matches(owner) != tt.matches[i] {
					t.Errorf("Matches(%q) = %v, want %v", owner, got.Matches(owner), tt.matches[i])
				}
			}
		})
	}
}

func TestQueueCursorBelongsToItsView(t *testing.T) {
	v := QueueView{WorkspaceID: "ws", Status: StatusNew, Owners: OwnerPredicate{Unowned: true}, Order: LongestWaiting}
	v.fingerprint = v.computeFingerprint()
	c := conv(StatusNew, "")
	key, err := v.decodeCursor(v.Cursor(&c))
	if err != nil || key.ID != c.ID || !key.WaitingSince.Equal(c.WaitingSince) {
		t.Fatalf("round trip: %+v, %v", key, err)
	}
	other := v
	other.Order = Newest
	other.fingerprint = other.computeFingerprint()
	if _, err := other.decodeCursor(v.Cursor(&c)); ErrorCode(err) != CodeInvalid {
		t.Fatalf("cursor of another view: err = %v", err)
	}
	for _, bad := range []string{"", "!!", "e30", "bm90IGpzb24"} {
		if _, err := v.decodeCursor(bad); ErrorCode(err) != CodeInvalid {
			t.Errorf("decodeCursor(%q): err = %v", bad, err)
		}
	}
}

package domain

import (
	"fmt"
	"slices"
)

// OwnershipFilter is a queue's ownership filter as a caller gives it: the
// options combine as a union, and no option means every conversation.
type OwnershipFilter struct {
	Unowned       bool
	OwnedByMe     bool
	OwnedByOthers bool
	OwnerIDs      []string
}

// OwnerPredicate is an ownership filter resolved for one caller: a
// conversation matches when it is unowned and Unowned is set, or it is owned
// by anyone but Except and AnyOwner is set, or it is owned by one of Owners.
type OwnerPredicate struct {
	Unowned  bool
	AnyOwner bool
	Except   []string
	Owners   []string
}

// MatchesAll reports whether the predicate matches every conversation.
func (p OwnerPredicate) MatchesAll() bool {
	return p.Unowned && p.AnyOwner && len(p.Except) == 0
}

// Matches reports whether a conversation owned by ownerID ("" for none)
// matches.
func (p OwnerPredicate) Matches(ownerID string) bool {
	if ownerID == "" {
		return p.Unowned
	}
	if p.AnyOwner && !slices.Contains(p.Except, ownerID) {
		return true
	}
	return slices.Contains(p.Owners, ownerID)
}

// OwnerSet is an OwnerPredicate in the form a store's query needs: either
// every conversation (All), or the finite set of matching owners (Finite,
// Values, with "" for unowned), or every owner but Except, with or without
// the unowned ones.
type OwnerSet struct {
	All     bool
	Finite  bool
	Values  []string
	Unowned bool
	Except  []string
}

// Set returns the predicate as an OwnerSet.
func (p OwnerPredicate) Set() OwnerSet {
	if p.AnyOwner {
		// An owner listed in Owners matches even if it is also in Except.
		var except []string
		for _, id := range sortedUnique(p.Except) {
			if id != "" && !slices.Contains(p.Owners, id) {
				except = append(except, id)
			}
		}
		if p.Unowned && len(except) == 0 {
			return OwnerSet{All: true}
		}
		return OwnerSet{Unowned: p.Unowned, Except: except}
	}
	var values []string
	if p.Unowned {
		values = append(values, "")
	}
	for _, id := range sortedUnique(p.Owners) {
		if id != "" { // "" in Owners does not match unowned conversations
			values = append(values, id)
		}
	}
	return OwnerSet{Finite: true, Values: values}
}

// SortedUnique returns ids sorted, without repeats (nil for none).
func SortedUnique(ids []string) []string { return sortedUnique(ids) }

// Resolve turns the filter into a predicate for the caller me.
func (f *OwnershipFilter) Resolve(me string) OwnerPredicate {
	if f == nil || (!f.Unowned && !f.OwnedByMe && !f.OwnedByOthers && len(f.OwnerIDs) == 0) {
		return OwnerPredicate{Unowned: true, AnyOwner: true}
	}
	p := OwnerPredicate{Unowned: f.Unowned}
	if f.OwnedByOthers {
		p.AnyOwner = true
		// "Owned by others" plus "owned by me" is every owned conversation.
		if !f.OwnedByMe && !slices.Contains(f.OwnerIDs, me) {
			p.Except = []string{me}
		}
		return p
	}
	owners := slices.Clone(f.OwnerIDs)
	if f.OwnedByMe {
		owners = append(owners, me)
	}
	slices.Sort(owners)
	p.Owners = slices.Compact(owners)
	return p
}

// ChangeFilter selects ownership changes for an ownershipChanged
// subscription: a change matches when the conversation's state before it, or
// after it, is in one of Statuses (any when empty) with an owner Owners
// matches — queue and owner together.
type ChangeFilter struct {
	Statuses []QueueStatus
	Owners   OwnerPredicate
}

// Matches reports whether a conversation in state c matches as a whole.
func (f ChangeFilter) Matches(c *Conversation) bool {
	if c == nil || (len(f.Statuses) > 0 && !slices.Contains(f.Statuses, c.Status)) {
		return false
	}
	return f.Owners.Matches(c.OwnerID)
}

// Key names the filter: equal keys select the same changes.
func (f ChangeFilter) Key() string {
	statuses := make([]string, len(f.Statuses))
	for i, s := range f.Statuses {
		statuses[i] = string(s)
	}
	slices.Sort(statuses)
	p := f.Owners
	return fmt.Sprintf("%v|%v|%v|%q|%q", statuses, p.Unowned, p.AnyOwner, p.Except, p.Owners)
}

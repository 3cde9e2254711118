package domain

import (
	"errors"
	"testing"
)

func TestRoleFromClaimIsExact(t *testing.T) {
	for claim, want := range map[string]Role{"agent": RoleAgent, "admin": RoleAdmin, "integration": RoleIntegration} {
		if got, ok := RoleFromClaim(claim); !ok || got != want {
			t.Errorf("RoleFromClaim(%q) = %q, %v; want %q", claim, got, ok, want)
		}
	}
	for _, claim := range []string{"ADMIN", "Admin", "ADMİN", "admİn", "AGENT", "Integration", "admin ", " agent", "agent\x00", "", "AGENT_", "superuser"} {
		if got, ok := RoleFromClaim(claim); ok {
			t.Errorf("RoleFromClaim(%q) = %q; want refused", claim, got)
		}
	}
}

func TestExpectedVersionBelowOneIsInvalid(t *testing.T) {
	for _, v := range []int64{0, -1, -1 << 31} {
		err := validExpectedVersion(&v)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid || e.Argument != "input.expectedVersion" {
			t.Errorf("expectedVersion %d: %v; want BAD_USER_INPUT input.expectedVersion", v, err)
		}
	}
	one := int64(1)
	if err := validExpectedVersion(&one); err != nil {
		t.Errorf("expectedVersion 1: %v", err)
	}
	if err := validExpectedVersion(nil); err != nil {
		t.Errorf("no expectedVersion: %v", err)
	}
}

package domain

import "testing"

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

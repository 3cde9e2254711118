package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"switchboard/domain"
	"switchboard/server"
)

// The demo workspace that `switchboard dev` seeds once.
const demoWorkspace = "demo"

type demoPerson struct {
	id, name, email string
	role            domain.Role
}

var demoPeople = []demoPerson{
	{"ada", "Ada Admin", "ada@example.com", domain.RoleAdmin},
	{"ben", "Ben Baker", "ben@example.com", domain.RoleAgent},
	{"cleo", "Cleo Cruz", "cleo@example.com", domain.RoleAgent},
	{"dev", "Dev Patel", "dev@example.com", domain.RoleAgent},
}

const demoIntegration = "email-connector"

// seedDemo fills the demo workspace through the service, so the data obeys
// every rule: agents, two channels, auto-ownership for Ben on Chat, and
// conversations in every queue. It does nothing if the workspace has
// channels already.
func seedDemo(ctx context.Context, svc *domain.Service) (bool, error) {
	admin := domain.Actor{WorkspaceID: demoWorkspace, ID: "ada", Role: domain.RoleAdmin, Name: "Ada Admin", Email: "ada@example.com"}
	if chs, err := svc.Channels(ctx, admin); err != nil || len(chs) > 0 {
		return false, err
	}
	if _, err := svc.Authenticate(ctx, domain.Claims{WorkspaceID: demoWorkspace, Subject: admin.ID, Role: "admin", Name: admin.Name, Email: admin.Email}); err != nil {
		return false, err
	}
	for _, p := range demoPeople[1:] {
		if _, err := svc.UpsertAgent(ctx, admin, domain.AgentInput{ID: p.id, Name: p.name, Email: p.email, Role: p.role}); err != nil {
			return false, err
		}
	}
	email, err := svc.CreateChannel(ctx, admin, "Email")
	if err != nil {
		return false, err
	}
	chat, err := svc.CreateChannel(ctx, admin, "Chat")
	if err != nil {
		return false, err
	}
	if _, err := svc.SetAutoOwnership(ctx, admin, chat.ID, "ben", true); err != nil {
		return false, err
	}
	integration := domain.Actor{WorkspaceID: demoWorkspace, ID: demoIntegration, Role: domain.RoleIntegration}
	agent := func(id string) domain.Actor {
		for _, p := range demoPeople {
			if p.id == id {
				return domain.Actor{WorkspaceID: demoWorkspace, ID: p.id, Role: p.role, Name: p.name, Email: p.email}
			}
		}
		panic("no demo agent " + id)
	}
	type step func(conversationID string) error
	owner := func(id string) step {
		return func(c string) error {
			_, err := svc.SetOwner(ctx, admin, domain.SetOwnerCommand{ConversationID: c, OwnerID: &id, OwnerGiven: true})
			return err
		}
	}
	pending := func(boomerang time.Duration) step {
		return func(c string) error {
			cmd := domain.MoveCommand{ConversationID: c}
			if boomerang > 0 {
				at := time.Now().Add(boomerang)
				cmd.BoomerangAt = &at
			}
			_, err := svc.MoveToPending(ctx, admin, cmd)
			return err
		}
	}
	reply := func(by, text string, then domain.QueueStatus) step {
		return func(c string) error {
			_, err := svc.Reply(ctx, agent(by), domain.ReplyCommand{ConversationID: c, Text: text, ThenMoveTo: then})
			return err
		}
	}
	resolve := func(c string) error {
		_, err := svc.Resolve(ctx, admin, domain.MoveCommand{ConversationID: c})
		return err
	}
	conversations := []struct {
		channel, contact, name, text string
		steps                        []step
	}{
		{email.ID, "grace@example.org", "Grace Hopper", "My invoice shows the wrong VAT number.", nil},
		{email.ID, "linus@example.org", "Linus T.", "How do I export my data?", []step{owner("cleo")}},
		{chat.ID, "visitor-8121", "Margaret", "Is the Pro plan billed monthly?", []step{reply("ben", "Hi Margaret! Yes, monthly or yearly.", "")}},
		{chat.ID, "visitor-8122", "Alan", "The app crashes when I upload a photo.", []step{owner("dev")}},
		{email.ID, "barbara@example.org", "Barbara L.", "Please cancel my subscription.", []step{owner("ben"), pending(2 * time.Hour)}},
		{email.ID, "ken@example.org", "Ken T.", "Where is my order #1042?", []step{reply("cleo", "It ships tomorrow; we'll send tracking.", domain.StatusPending)}},
		{chat.ID, "visitor-8123", "Radia", "Can I change my username?", []step{reply("ben", "Yes: Settings, Profile, Username.", domain.StatusResolved)}},
		{email.ID, "frances@example.org", "Frances A.", "Thanks, all sorted!", []step{resolve}},
		{chat.ID, "visitor-8124", "Edsger", "Do you have an API?", nil},
	}
	for i, c := range conversations {
		res, err := svc.IngestInbound(ctx, integration, domain.InboundCommand{
			ChannelID: c.channel, ContactExternalID: c.contact, ContactName: c.name,
			ExternalMessageID: fmt.Sprintf("demo-%d", i+1), Text: c.text,
		})
		if err != nil {
			return false, err
		}
		for _, s := range c.steps {
			if err := s(res.ConversationID); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// devDemo is what `switchboard dev` tells: the demo workspace's tokens,
// printed in the banner and offered on the console's sign-in page.
type devDemo struct {
	seeded bool
	tokens []devToken
}

type devToken struct{ label, role, token string }

// demoTokens mints the demo workspace's tokens. They need only the
// secret, so the server is built with them before the workspace is seeded.
func demoTokens(secret []byte, cfg *config) (*devDemo, error) {
	now := time.Now()
	mint := func(sub, role, name, email string) (string, error) {
		return server.MintHS256(secret, server.TokenRequest{
			Subject: sub, WorkspaceID: demoWorkspace, Role: role, Name: name, Email: email,
			Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: 24 * time.Hour,
		}, now)
	}
	d := &devDemo{}
	for _, p := range demoPeople[:3] {
		role := map[domain.Role]string{domain.RoleAdmin: "admin", domain.RoleAgent: "agent"}[p.role]
		t, err := mint(p.id, role, p.name, p.email)
		if err != nil {
			return nil, err
		}
		d.tokens = append(d.tokens, devToken{fmt.Sprintf("%s (%s)", p.name, p.role), role, t})
	}
	it, err := mint(demoIntegration, "integration", "Email connector", "")
	if err != nil {
		return nil, err
	}
	d.tokens = append(d.tokens, devToken{"Email connector (INTEGRATION)", "integration", it})
	return d, nil
}

// consoleTokens are the tokens the console's sign-in page offers: the
// admin's and the agents' (the console is no integration's tool); none
// without a demo.
func (d *devDemo) consoleTokens() []server.DevToken {
	if d == nil {
		return nil
	}
	var out []server.DevToken
	for _, t := range d.tokens {
		if t.role != "integration" {
			out = append(out, server.DevToken{Label: t.label, Role: t.role, Token: t.token})
		}
	}
	return out
}

// printBanner prints how to try the server at base.
func (d *devDemo) printBanner(w io.Writer, cfg *config, base string) {
	state := "the demo workspace is as you left it"
	if d.seeded {
		state = "seeded the demo workspace"
	}
	fmt.Fprintf(w, "\nConsole: %s/ — open it in a browser and pick a demo token to sign in.\n", base)
	fmt.Fprintf(w, "\nSwitchboard dev server on %s — data in %s, %s (%q).\n\n", base, cfg.DataDir, state, demoWorkspace)
	fmt.Fprintf(w, "Tokens, valid 24 h (switchboard token --help mints more):\n")
	for _, t := range d.tokens {
		fmt.Fprintf(w, "  %s:\n    %s\n", t.label, t.token)
	}
	fmt.Fprintf(w, "\nPlayground: %s/playground\n  In the Headers tab: {\"Authorization\": \"Bearer <a token above>\"}\n\n", base)
	for _, t := range d.tokens {
		if t.role == "integration" {
			fmt.Fprintf(w, "Replies go out through a channel connector; until one reports them, the console shows \"Sending…\" under them\n"+
				"and the Admin page counts them per channel. Send them with the example connector (README: Writing a connector):\n"+
				"  cd interop && npm ci && SWITCHBOARD_URL=%s/graphql SWITCHBOARD_TOKEN=%s node connector.mjs\n\n", base, t.token)
		}
	}
	fmt.Fprintf(w, "Try it:\n  curl -s %s/graphql -H 'Content-Type: application/json' \\\n    -H 'Authorization: Bearer %s' \\\n"+
		"    -d '{\"query\":\"{ me { name presence } queue(status: NEW) { totalCount edges { node { id ownershipLabel contact { name } } } } }\"}'\n\n",
		base, d.tokens[1].token)
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema's steps, applied in order, each in its own
// transaction together with the new PRAGMA user_version, so a crash leaves
// the schema at one of its versions. Never edit a step that has shipped:
// append a new one.
//
// Conventions: every table has workspace_id and every key starts with it;
// times are INTEGER unix milliseconds, NULL where the domain's time is
// optional; an unowned conversation has the empty owner_id (not NULL) so that the
// queue indexes can seek it by equality.
var migrations = []string{
	// 1: the whole first schema.
	`
CREATE TABLE settings (
	workspace_id               TEXT    NOT NULL PRIMARY KEY,
	remove_ownership_on_logout INTEGER NOT NULL,
	logout_grace_seconds       INTEGER NOT NULL,
	switched_off_count         INTEGER NOT NULL,
	version                    INTEGER NOT NULL,
	updated_at                 INTEGER NOT NULL
);

CREATE TABLE agents (
	workspace_id   TEXT    NOT NULL,
	id             TEXT    NOT NULL,
	name           TEXT    NOT NULL,
	email          TEXT    NOT NULL,
	role           TEXT    NOT NULL,
	active         INTEGER NOT NULL,
	presence       TEXT    NOT NULL,
	presence_since INTEGER NOT NULL,
	offline_epoch  INTEGER NOT NULL,
	last_seen_at   INTEGER NOT NULL,
	-- The pending logout cleanup; all three NULL when none is due.
	cleanup_epoch              INTEGER,
	cleanup_due_at             INTEGER,
	cleanup_switched_off_count INTEGER,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	version    INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
-- ListAgents: sorted by name, then id.
CREATE INDEX agents_by_name ON agents (workspace_id, name, id);

CREATE TABLE channels (
	workspace_id TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
-- Names are unique per workspace; ListChannels reads in this order.
CREATE UNIQUE INDEX channels_by_name ON channels (workspace_id, name);

CREATE TABLE auto_ownership (
	workspace_id TEXT NOT NULL,
	channel_id   TEXT NOT NULL,
	agent_id     TEXT NOT NULL,
	PRIMARY KEY (workspace_id, channel_id, agent_id)
) WITHOUT ROWID;

CREATE TABLE contacts (
	workspace_id TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	channel_id   TEXT    NOT NULL,
	external_id  TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
-- A contact's external id is unique per channel.
CREATE UNIQUE INDEX contacts_by_channel ON contacts (workspace_id, channel_id, external_id);

CREATE TABLE conversations (
	workspace_id           TEXT    NOT NULL,
	id                     TEXT    NOT NULL,
	channel_id             TEXT    NOT NULL,
	contact_id             TEXT    NOT NULL,
	seq                    INTEGER NOT NULL,
	status                 TEXT    NOT NULL,
	owner_id               TEXT    NOT NULL,
	owned_since            INTEGER,
	owner_epoch            INTEGER NOT NULL,
	assigned_while_offline INTEGER NOT NULL,
	owner_version          INTEGER NOT NULL,
	waiting_since          INTEGER NOT NULL,
	boomerang_at           INTEGER,
	created_at             INTEGER NOT NULL,
	updated_at             INTEGER NOT NULL,
	version                INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
-- ContactConversations; unique because a contact's n-th conversation is
-- created once.
CREATE UNIQUE INDEX conversations_by_contact ON conversations (workspace_id, contact_id, seq);
-- The queue views: each index is ordered by (waiting_since, id) after its
-- equality columns, so a page is an index range read in order, and it ends
-- with the other filter columns so that a filter on owner or channel is
-- checked in the index before any row is read (and counts never read rows).
CREATE INDEX conversations_queue ON conversations
	(workspace_id, status, waiting_since, id, owner_id, channel_id);
CREATE INDEX conversations_queue_by_owner ON conversations
	(workspace_id, status, owner_id, waiting_since, id, channel_id);
CREATE INDEX conversations_queue_by_channel ON conversations
	(workspace_id, status, channel_id, waiting_since, id, owner_id);
-- "Owned by others": only owned rows, so a mostly unowned queue is not
-- walked to find the few owned ones.
CREATE INDEX conversations_queue_owned ON conversations
	(workspace_id, status, waiting_since, id, owner_id, channel_id) WHERE owner_id <> '';
-- OwnedConversations: an owner's conversations in id order.
CREATE INDEX conversations_by_owner ON conversations
	(workspace_id, owner_id, id, status, assigned_while_offline) WHERE owner_id <> '';

CREATE TABLE messages (
	workspace_id    TEXT    NOT NULL,
	id              TEXT    NOT NULL,
	conversation_id TEXT    NOT NULL,
	direction       TEXT    NOT NULL,
	text            TEXT    NOT NULL,
	author_id       TEXT    NOT NULL,
	external_id     TEXT    NOT NULL,
	version         INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, id)
);
-- ListMessages; one message per conversation version.
CREATE UNIQUE INDEX messages_by_conversation ON messages (workspace_id, conversation_id, version);

CREATE TABLE history (
	workspace_id    TEXT    NOT NULL,
	conversation_id TEXT    NOT NULL,
	version         INTEGER NOT NULL,
	id              TEXT    NOT NULL,
	status          TEXT    NOT NULL,
	at              INTEGER NOT NULL,
	from_id         TEXT    NOT NULL,
	to_id           TEXT    NOT NULL,
	actor_id        TEXT    NOT NULL,
	reason          TEXT    NOT NULL,
	PRIMARY KEY (workspace_id, conversation_id, version)
);

CREATE TABLE acks (
	workspace_id    TEXT    NOT NULL,
	agent_id        TEXT    NOT NULL,
	conversation_id TEXT    NOT NULL,
	version         INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, agent_id, conversation_id, version)
) WITHOUT ROWID;
`,

	// 2: the sweeps, the only reads across workspaces. Each is a partial
	// index of the rows that can be due, in the order the sweep reads them,
	// so a sweep is one index range read from its start.
	`
-- DueBoomerangs: PENDING conversations with a boomerang, soonest first.
CREATE INDEX conversations_boomerang_due ON conversations (boomerang_at, workspace_id, id)
	WHERE status = 'PENDING' AND boomerang_at IS NOT NULL;
-- DueCleanups: agents with a pending logout cleanup, soonest first.
CREATE INDEX agents_cleanup_due ON agents (cleanup_due_at, workspace_id, id)
	WHERE cleanup_due_at IS NOT NULL;
-- SilentAgents: ONLINE and AWAY agents, longest silent first.
CREATE INDEX agents_silent ON agents (last_seen_at, workspace_id, id)
	WHERE presence <> 'OFFLINE';
`,

	// 3: when the remove-ownership setting was last switched off (a cleanup
	// due after that is not cancelled by it), and which instance performs a
	// cleanup until when. 0 stands for "never" / "nobody".
	`
ALTER TABLE settings ADD COLUMN switched_off_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN cleanup_claimed_by TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN cleanup_claimed_until INTEGER NOT NULL DEFAULT 0;
`,

	// 4: the probe record, the one row outside every workspace: the server
	// writes it every second to learn whether the store takes writes, and
	// nothing reads it.
	`
CREATE TABLE probe (
	id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	at INTEGER NOT NULL
);
`,

	// 5: outbound delivery. A reply's delivery state lives on its message;
	// replies written before this step have none (delivery_status ''), and
	// are never offered to a connector. The channel is copied onto outbound
	// messages so that a channel's pending deliveries are one index range.
	`
ALTER TABLE messages ADD COLUMN channel_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_status TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN delivery_external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_error TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delivery_version INTEGER NOT NULL DEFAULT 0;
-- PendingDeliveries and CountPendingDeliveries: a workspace's PENDING
-- deliveries, oldest first.
CREATE INDEX messages_pending_delivery ON messages
	(workspace_id, created_at, conversation_id, version, channel_id) WHERE delivery_status = 'PENDING';
`,

	// 6: the badge counts, kept per (workspace, queue, owner, channel) and
	// per (workspace, queue, owner) by triggers on conversations, so every
	// write that changes a conversation changes its counts in the same
	// transaction, whichever statement made it. A count that reaches 0 is
	// deleted, so a queue has one row per owner (and channel) it holds:
	// counting a view reads those rows, never its conversations; a view
	// without a channel filter reads the smaller table. The counts of the
	// conversations already stored are taken once here.
	`
CREATE TABLE queue_counts (
	workspace_id TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	owner_id     TEXT    NOT NULL,
	channel_id   TEXT    NOT NULL,
	n            INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, status, owner_id, channel_id)
) WITHOUT ROWID;

CREATE TABLE queue_owner_counts (
	workspace_id TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	owner_id     TEXT    NOT NULL,
	n            INTEGER NOT NULL,
	PRIMARY KEY (workspace_id, status, owner_id)
) WITHOUT ROWID;

INSERT INTO queue_counts (workspace_id, status, owner_id, channel_id, n)
	SELECT workspace_id, status, owner_id, channel_id, count(*) FROM conversations
	GROUP BY workspace_id, status, owner_id, channel_id;
INSERT INTO queue_owner_counts (workspace_id, status, owner_id, n)
	SELECT workspace_id, status, owner_id, count(*) FROM conversations
	GROUP BY workspace_id, status, owner_id;

CREATE TRIGGER queue_counts_insert AFTER INSERT ON conversations BEGIN
	INSERT INTO queue_counts (workspace_id, status, owner_id, channel_id, n) VALUES (NEW.workspace_id, NEW.status, NEW.owner_id, NEW.channel_id, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
	INSERT INTO queue_owner_counts (workspace_id, status, owner_id, n) VALUES (NEW.workspace_id, NEW.status, NEW.owner_id, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER queue_counts_delete AFTER DELETE ON conversations BEGIN
	UPDATE queue_counts SET n = n - 1
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND channel_id = OLD.channel_id;
	DELETE FROM queue_counts
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND channel_id = OLD.channel_id AND n = 0;
	UPDATE queue_owner_counts SET n = n - 1
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id;
	DELETE FROM queue_owner_counts
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND n = 0;
END;

CREATE TRIGGER queue_counts_update AFTER UPDATE OF workspace_id, status, owner_id, channel_id ON conversations
	WHEN OLD.workspace_id IS NOT NEW.workspace_id OR OLD.status IS NOT NEW.status
		OR OLD.owner_id IS NOT NEW.owner_id OR OLD.channel_id IS NOT NEW.channel_id
` + queueCountsUpdateBody + `
`,

	// 7: the record of changes that resuming subscribers replay. Each
	// published change is a row written in the transaction of the change;
	// its rowid is its position (AUTOINCREMENT: never reused, also after a
	// trim), so positions grow in commit order in every workspace. body is
	// the event as JSON, at the time of the change (unix ms). A
	// workspace's horizon is the newest position trimmed: a subscriber
	// resuming from before it has missed changes no longer kept.
	`
CREATE TABLE events (
	position     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	workspace_id TEXT    NOT NULL,
	at           INTEGER NOT NULL,
	body         TEXT    NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, position);

CREATE TABLE event_horizons (
	workspace_id    TEXT    NOT NULL PRIMARY KEY,
	trimmed_through INTEGER NOT NULL
) WITHOUT ROWID;
`,

	// 8: routing. The settings (off by default), each agent's capacity
	// (NULL: the workspace default) and turn, routing's memory on each
	// conversation (routing_excluded is a JSON array of agent ids, '' for
	// none), the routing agents per channel, and the one lease per
	// workspace that makes one instance its router.
	`
ALTER TABLE settings ADD COLUMN routing_mode TEXT NOT NULL DEFAULT 'OFF';
ALTER TABLE settings ADD COLUMN routing_default_capacity INTEGER NOT NULL DEFAULT 5;
ALTER TABLE settings ADD COLUMN routing_unanswered_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE settings ADD COLUMN routing_prefer_last_owner INTEGER NOT NULL DEFAULT 1;
-- RoutingWorkspaces: the workspaces with routing on, in id order.
CREATE INDEX settings_routing ON settings (workspace_id) WHERE routing_mode <> 'OFF';

ALTER TABLE agents ADD COLUMN capacity INTEGER;
ALTER TABLE agents ADD COLUMN last_routed_at INTEGER NOT NULL DEFAULT 0;

ALTER TABLE conversations ADD COLUMN routing_excluded TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN unanswered_at INTEGER;
ALTER TABLE conversations ADD COLUMN resolved_owner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN preferred_agent_id TEXT NOT NULL DEFAULT '';
-- DueUnanswered: NEW conversations with a take-back deadline, soonest first.
CREATE INDEX conversations_unanswered_due ON conversations (unanswered_at, workspace_id, id)
	WHERE status = 'NEW' AND unanswered_at IS NOT NULL;

CREATE TABLE routing_agents (
	workspace_id TEXT NOT NULL,
	channel_id   TEXT NOT NULL,
	agent_id     TEXT NOT NULL,
	PRIMARY KEY (workspace_id, channel_id, agent_id)
) WITHOUT ROWID;

CREATE TABLE routing_leases (
	workspace_id TEXT    NOT NULL PRIMARY KEY,
	holder       TEXT    NOT NULL,
	until        INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 9: a batch of changes may keep the badge counts itself. While
	// queue_counts_deferral says so (only inside the write transaction of
	// such a batch, which sets it back before it commits; a crash rolls
	// both back), the update trigger leaves the counts to the batch, which
	// adds its net changes in a few statements instead of the trigger's six
	// per conversation (UpdateConversations).
	`
CREATE TABLE queue_counts_deferral (id INTEGER PRIMARY KEY CHECK (id = 1), deferred INTEGER NOT NULL);
INSERT INTO queue_counts_deferral (id, deferred) VALUES (1, 0);
DROP TRIGGER queue_counts_update;
CREATE TRIGGER queue_counts_update AFTER UPDATE OF workspace_id, status, owner_id, channel_id ON conversations
	WHEN (OLD.workspace_id IS NOT NEW.workspace_id OR OLD.status IS NOT NEW.status
		OR OLD.owner_id IS NOT NEW.owner_id OR OLD.channel_id IS NOT NEW.channel_id)
		AND NOT (SELECT deferred FROM queue_counts_deferral WHERE id = 1)
` + queueCountsUpdateBody + `
`,
}

// queueCountsUpdateBody is what the update trigger of the badge counts does:
// migration 6 creates the trigger, migration 9 creates it again with a
// condition of its own.
const queueCountsUpdateBody = `BEGIN
	UPDATE queue_counts SET n = n - 1
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND channel_id = OLD.channel_id;
	DELETE FROM queue_counts
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND channel_id = OLD.channel_id AND n = 0;
	INSERT INTO queue_counts (workspace_id, status, owner_id, channel_id, n) VALUES (NEW.workspace_id, NEW.status, NEW.owner_id, NEW.channel_id, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
	UPDATE queue_owner_counts SET n = n - 1
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id;
	DELETE FROM queue_owner_counts
		WHERE workspace_id = OLD.workspace_id AND status = OLD.status AND owner_id = OLD.owner_id AND n = 0;
	INSERT INTO queue_owner_counts (workspace_id, status, owner_id, n) VALUES (NEW.workspace_id, NEW.status, NEW.owner_id, 1)
		ON CONFLICT DO UPDATE SET n = n + 1;
END;`

// SchemaVersion is the schema version this code migrates to.
func SchemaVersion() int { return len(migrations) }

// migrate applies the steps the database has not seen yet. It runs at every
// start; a database already at SchemaVersion is left untouched.
func migrate(ctx context.Context, db *sql.DB) (applied int, err error) {
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > len(migrations) {
		return 0, fmt.Errorf("the database has schema version %d, newer than this server's %d: run a newer server", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		if err := migrateStep(ctx, db, v); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

func migrateStep(ctx context.Context, db *sql.DB, v int) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	defer tx.Rollback() // a no-op after Commit
	// Read again inside the write transaction: another process opening the
	// same file without the directory lock (OpenFile) may have migrated it.
	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("migration %d: read schema version: %w", v, err)
	}
	if current >= v {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
		return fmt.Errorf("migration %d: %w", v, err)
	}
	// PRAGMA takes no parameters; v is an int, so this is safe to format.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		return fmt.Errorf("migration %d: set schema version: %w", v, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", v, err)
	}
	return nil
}

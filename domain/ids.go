package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
)

// Ids are opaque strings: a short prefix that names the kind, then 26
// characters of base32. Ids that must be the same on a retry (a contact, an
// inbound message, a reply with an idempotency key, a contact's n-th
// conversation) are derived from their key by hashing, so inserting the same
// thing twice hits the same id; the others are random.

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RandomID returns a new random id with the given prefix.
func RandomID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return prefix + idEncoding.EncodeToString(b[:])
}

// derivedID returns the id of the thing named by parts.
func derivedID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefix each part so ("ab","c") and ("a","bc") differ.
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return prefix + idEncoding.EncodeToString(h.Sum(nil)[:16])
}

// ContactID is the id of the contact with externalID on a channel.
func ContactID(workspaceID, channelID, externalID string) string {
	return derivedID("ct_", workspaceID, channelID, externalID)
}

// ConversationID is the id of a contact's seq-th conversation.
func ConversationID(workspaceID, contactID string, seq int64) string {
	return derivedID("cv_", workspaceID, contactID, strconv.FormatInt(seq, 10))
}

// InboundMessageID is the id of a channel's inbound message.
func InboundMessageID(workspaceID, channelID, externalMessageID string) string {
	return derivedID("mi_", workspaceID, channelID, externalMessageID)
}

// ReplyMessageID is the id of an agent's reply with an idempotency key.
func ReplyMessageID(workspaceID, agentID, clientMessageID string) string {
	return derivedID("mo_", workspaceID, agentID, clientMessageID)
}

// HistoryID is the id of the ownership change that made a conversation's
// version.
func HistoryID(conversationID string, version int64) string {
	return "oc_" + strings.TrimPrefix(conversationID, "cv_") + "_" + strconv.FormatInt(version, 10)
}

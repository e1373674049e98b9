// Package chat will own conversations: participants, messages with a
// per-conversation sequence, hold, typing, transcripts, attachments and
// operator-to-operator rooms. It knows nothing of WebSocket framing. It
// lands with the text-chat milestone; routing and storage are in place.
package chat

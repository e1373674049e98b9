// Package signaling will hold the edges: the browser protocol over
// WebSocket (coder/websocket) and SIP (sipgo): registrar, inbound and
// outbound calls, dialogs. It turns wire messages into routing and chat
// commands and holds no business rules. It lands with the text-chat and
// SIP milestones.
package signaling

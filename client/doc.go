// Package client is a Go client of Turnout's native API (/service): create,
// read, list, cancel and retry jobs, follow a job's events as they happen
// and wait for it to end.
//
// It imports only the standard library, so a program can depend on it
// without pulling in the server. Webhook signatures are verified by the
// sibling package webhook.
//
// Every call authenticates with one API key (the X-API-Key header). A key
// sees and acts on its own jobs only; a key with the admin scope sees every
// key's, and only it may create the no-op jobs of Create.
//
// Errors the API answers are *Error values carrying the HTTP status, the
// kind of the envelope's error ("Query Error", ...), its message, field
// problems and the gateway_id to quote to an operator; errors.Is matches
// them against ErrNotFound, ErrUnauthorized, ErrInvalid, ErrConflict,
// ErrRateLimited and ErrUnavailable. A call is sent once: only the
// following and waiting calls (Events, Poll, Watch, Wait) retry, because
// reading a job again is always safe.
//
// Following a job: Events reads the server's event stream (Server-Sent
// Events), reconnecting with Last-Event-ID when the connection drops, so
// the final event is never missed. Poll gives the same events from
// periodic reads, for servers or proxies that do not stream. Watch uses
// Events and falls back to Poll when the server does not stream, and Wait
// returns the finished job.
package client

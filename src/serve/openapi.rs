//! The OpenAPI 3.1 description of the API, written by hand. A test checks that its
//! paths and methods are exactly the ones the router serves.

use serde_json::{json, Value};

use super::error::ApiError;
use crate::envelope::Round;

fn error_ref(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
    })
}

/// The responses every authenticated ceremony route can give besides its own.
fn ceremony_errors(extra: &[(&str, &str)]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for (code, what) in [
        (
            "401",
            "`unauthorized` (missing, malformed, expired or misdirected NIP-98 auth) or `replayed`",
        ),
        (
            "403",
            "`not-a-member`: the authenticated key is neither a member nor the dealer",
        ),
        ("404", "`not-found`: no such ceremony"),
        ("429", "`rate-limited`, with a Retry-After header (seconds)"),
        ("500", "`internal`"),
    ]
    .iter()
    .chain(extra)
    {
        m.insert((*code).to_owned(), error_ref(what));
    }
    m
}

fn with(
    mut m: serde_json::Map<String, Value>,
    code: &str,
    v: Value,
) -> serde_json::Map<String, Value> {
    m.insert(code.to_owned(), v);
    m
}

fn id_param() -> Value {
    json!({
        "name": "id", "in": "path", "required": true,
        "description": "The server's ceremony id (32 hex digits) returned by POST /v1/ceremonies.",
        "schema": { "type": "string", "pattern": "^[0-9a-f]{32}$" }
    })
}

fn event_schema() -> Value {
    json!({
        "type": "object",
        "description": "A signed Nostr event of kind 7707 (a passport round package), stored unchanged.",
        "required": ["id", "pubkey", "created_at", "kind", "tags", "content", "sig"],
        "properties": {
            "id": { "type": "string" }, "pubkey": { "type": "string" },
            "created_at": { "type": "integer" }, "kind": { "type": "integer", "const": 7707 },
            "tags": { "type": "array", "items": { "type": "array", "items": { "type": "string" } } },
            "content": { "type": "string" }, "sig": { "type": "string" }
        }
    })
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> Value {
    let rounds: Vec<&str> = Round::ALL.iter().map(|r| r.as_str()).collect();
    let mut create = ceremony_errors(&[
        (
            "400",
            "`malformed`: the body is not a valid roster (e.g. a purpose over 1024 bytes)",
        ),
        (
            "408",
            "`timeout`: the body did not arrive within body_read_timeout_secs",
        ),
        ("413", "`too-large`: a roster is at most 64 KiB of JSON"),
    ]);
    create.insert(
        "429".into(),
        error_ref(
            "`rate-limited`, with a Retry-After header (seconds): too many requests, or too \
             many new ceremonies from this address (new_ceremonies_per_ip_hour)",
        ),
    );
    create.remove("404");
    create.insert(
        "200".into(),
        ok(
            "The same roster was registered before; its id.",
            "CeremonyCreated",
        ),
    );
    let post_errors = ceremony_errors(&[
        ("400", "`malformed`: not JSON, not a signed kind-7707 event, forged signature or bad tags"),
        ("408", "`timeout`: the body did not arrive within body_read_timeout_secs"),
        ("409", "`conflict`: the sender already sent a different package for this round, recipient and reference"),
        ("413", "`too-large`"),
        ("422", "`wrong-ceremony`, `wrong-round` or `wrong-recipient`"),
    ]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "passport serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Coordinates FROST ceremony rounds: stores signed round packages (Nostr events of kind 7707) and hands each member the ones it may see. Confidential packages are NIP-44 encrypted end to end; the server holds no secrets.\n\nConnections (HTTP/1.1): a request's headers must be complete within header_read_timeout_secs (default 10) of connecting or of the previous answer, which also closes idle keep-alive connections; its body within body_read_timeout_secs (default 60) of the headers (else 408 `timeout`); a connection where nothing moves while no request is handled is closed after idle_timeout_secs (default 30; a long poll is being handled). At most max_connections_per_ip (default 64; IPv6 per /64) and max_connections (default 1024, lowered to fit the open-file limit) connections are open; at a limit the connection that has waited longest for a complete request is closed to make room, and when every one is busy the newcomer gets 429 `rate-limited` (per address) or 503 `unavailable` (in total) with Retry-After, before its request is read."
        },
        "components": {
            "securitySchemes": {
                "nip98": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`Nostr <base64 of a signed kind-27235 event>` (NIP-98) with tags `u` = the exact absolute URL including the query, `method`, and for request bodies `payload` = hex SHA-256 of the body. Each event is accepted once."
                }
            },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error", "message"],
                    "properties": {
                        "error": { "type": "string", "enum": ApiError::KINDS },
                        "message": { "type": "string", "description": "One sentence naming the problem and, where known, the member by roster name." }
                    }
                },
                "Roster": {
                    "type": "object",
                    "description": "A passport roster, as written by `passport roster new`; at most 64 KiB of JSON.",
                    "required": ["version", "ceremony_id", "purpose", "threshold", "members"],
                    "properties": {
                        "version": { "type": "integer", "const": 1 },
                        "ceremony_id": { "type": "string", "pattern": "^[0-9a-f]{32}$" },
                        "purpose": { "type": "string", "description": "At most 1024 bytes of UTF-8.", "maxLength": 1024 },
                        "threshold": { "type": "integer", "minimum": 2 },
                        "dealer": { "type": "string", "description": "npub of the dealer (dealer rosters only)" },
                        "members": { "type": "array", "minItems": 2, "maxItems": 255, "items": {
                            "type": "object", "required": ["name", "npub"],
                            "properties": { "name": { "type": "string", "pattern": "^[a-z0-9_-]{1,32}$" }, "npub": { "type": "string" } }
                        } }
                    }
                },
                "CeremonyCreated": {
                    "type": "object", "required": ["id", "ceremony", "roster_hash", "created", "other_rosters"],
                    "properties": {
                        "id": { "type": "string" }, "ceremony": { "type": "string" },
                        "roster_hash": { "type": "string" }, "created": { "type": "boolean" },
                        "other_rosters": { "type": "integer", "description": "Other rosters registered under the same ceremony id. Anyone may register a roster under a (public) ceremony id; each distinct roster is its own ceremony, and packages, bound to their roster's hash, are accepted only by it. Non-zero means someone holds a different roster: compare fingerprints." }
                    }
                },
                "CeremonyStatus": {
                    "type": "object",
                    "required": ["id", "ceremony", "roster_hash", "state", "threshold", "members", "packages"],
                    "properties": {
                        "id": { "type": "string" }, "ceremony": { "type": "string" },
                        "roster_hash": { "type": "string" }, "purpose": { "type": "string" },
                        "state": { "type": "string", "enum": ["open", "agreed"] },
                        "threshold": { "type": "integer" },
                        "dealer": { "type": ["string", "null"] },
                        "members": { "type": "array", "items": {
                            "type": "object", "required": ["seat", "name", "npub", "sent"],
                            "properties": {
                                "seat": { "type": "integer" }, "name": { "type": "string" },
                                "npub": { "type": "string" },
                                "sent": { "type": "object", "additionalProperties": { "type": "integer" },
                                          "description": "Accepted packages by round." }
                            }
                        } },
                        "packages": { "type": "integer" }
                    }
                },
                "Event": event_schema(),
                "Accepted": {
                    "type": "object", "required": ["seq", "id", "duplicate"],
                    "properties": {
                        "seq": { "type": "integer" }, "id": { "type": "string" },
                        "duplicate": { "type": "boolean" }
                    }
                },
                "Page": {
                    "type": "object", "required": ["packages", "cursor"],
                    "properties": {
                        "packages": { "type": "array", "maxItems": super::packages::MAX_PER_FETCH, "items": {
                            "type": "object", "required": ["seq", "event"],
                            "properties": { "seq": { "type": "integer" }, "event": { "$ref": "#/components/schemas/Event" } }
                        } },
                        "cursor": { "type": "integer", "description": "The highest seq returned, or `since` if none: pass it as `since` next time." },
                        "more": { "type": "boolean", "description": "A limit (count or bytes) cut this page: fetch again at once. False: nothing else was there when it was read." }
                    }
                },
                "Health": {
                    "type": "object", "required": ["status"],
                    "properties": { "status": { "type": "string", "const": "ok" } }
                }
            }
        },
        "paths": {
            "/healthz": { "get": {
                "summary": "Liveness: answers when the database does.",
                "responses": {
                    "200": ok("The server and its database answer.", "Health"),
                    "503": error_ref("`unavailable`: the database does not answer")
                }
            } },
            "/metrics": { "get": {
                "summary": "Prometheus metrics (OpenMetrics text format).",
                "responses": { "200": {
                    "description": "passport_http_requests_total, passport_http_request_duration_seconds, passport_ceremonies, passport_packages_total, passport_errors_total, passport_long_polls_active, passport_db_write_batches_total, passport_db_writes_total, passport_db_commit_seconds_total.",
                    "content": { "application/openmetrics-text": { "schema": { "type": "string" } } }
                } }
            } },
            "/v1/openapi.json": { "get": {
                "summary": "This document.",
                "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } }
            } },
            "/v1/ceremonies": { "post": {
                "summary": "Register a roster. Every member may post the same roster and gets the same id; a different roster under the same ceremony id is another ceremony, never a conflict.",
                "security": [ { "nip98": [] } ],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Roster" } } } },
                "responses": with(create, "201", ok("Registered.", "CeremonyCreated"))
            } },
            "/v1/ceremonies/{id}": { "get": {
                "summary": "Ceremony status: state and packages sent per member and round.",
                "security": [ { "nip98": [] } ],
                "parameters": [ id_param() ],
                "responses": with(ceremony_errors(&[]), "200", ok("Status.", "CeremonyStatus"))
            } },
            "/v1/ceremonies/{id}/packages": {
                "post": {
                    "summary": "Submit one package. Idempotent on the event id.",
                    "security": [ { "nip98": [] } ],
                    "parameters": [ id_param() ],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Event" } } } },
                    "responses": with(
                        with(post_errors, "200", ok("The same event was accepted before.", "Accepted")),
                        "201", ok("Accepted and durably stored.", "Accepted"))
                },
                "get": {
                    "summary": "Packages after a cursor that the requester may see: broadcasts, packages addressed to it, and its own. Long-polls with `wait`.",
                    "security": [ { "nip98": [] } ],
                    "parameters": [
                        id_param(),
                        { "name": "since", "in": "query", "required": false,
                          "description": "Return packages with seq greater than this (default 0).",
                          "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                        { "name": "wait", "in": "query", "required": false,
                          "description": "Seconds to wait for a package when none is available (capped by long_poll_max_secs).",
                          "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                        { "name": "round", "in": "query", "required": false,
                          "description": "Only packages of this round.",
                          "schema": { "type": "string", "enum": rounds } }
                    ],
                    "responses": with(
                        ceremony_errors(&[("400", "`bad-request`: an invalid query parameter")]),
                        "200", ok("Up to 1000 packages and the next cursor.", "Page"))
                }
            }
        }
    })
}

//! The console's pages: plain HTML made here, no script, no external resource. Every
//! value a client chose (its hints, the event) goes through [`text`]: HTML-escaped,
//! and with the characters that hide or reorder text shown as markers, as on the
//! terminal ([`crate::untrusted`]).

use std::fmt::Write as _;

use serde_json::Value;

use crate::bunker::approval::Pending;
use crate::untrusted;

/// `s` safe inside HTML text and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text for a page: markers for dangerous characters, newlines kept, escaped.
fn text(s: &str) -> String {
    escape(&untrusted::lines(s).join("\n"))
}

const STYLE: &str = "body{font-family:sans-serif;max-width:46em;margin:1em auto;padding:0 1em}\
th{text-align:left;vertical-align:top;padding-right:1em}td{vertical-align:top}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.5em}\
table.tags td{border:1px solid #ccc;padding:.2em .4em;font-family:monospace}\
form{display:inline-block;margin-right:1em}button{font-size:1.1em;padding:.3em 1.2em}";

/// A whole page around `body` (already HTML).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · passport bunker</title><style>{STYLE}</style></head>\
         <body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// A page that only says something (errors, results).
pub fn message(title: &str, said: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1>\n<p id=\"message\">{}</p>\n<p><a href=\"/console\">all waiting requests</a></p>",
            escape(title),
            escape(said)
        ),
    )
}

/// The client as the operator knows it: its hint name, or its npub.
fn who(p: &Pending) -> String {
    match p.meta.as_ref().and_then(|m| m.name.as_deref()) {
        Some(n) => format!("{} <small>{}</small>", text(n), escape(&p.client_npub)),
        None => escape(&p.client_npub),
    }
}

fn kind_of(p: &Pending) -> String {
    p.kind.map_or(String::new(), |k| format!(" kind {k}"))
}

/// The "Log out" form of a session's pages.
fn log_out_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/console/logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <button type=\"submit\" id=\"logout\">Log out</button></form>",
        escape(csrf)
    )
}

/// `GET /console`: every waiting request, linked, and Log out.
pub fn list(pending: &[Pending], csrf: &str) -> String {
    let mut body = String::from("<h1>Requests waiting for approval</h1>\n");
    if pending.is_empty() {
        body.push_str("<p id=\"none\">Nothing is waiting.</p>");
    } else {
        body.push_str("<ul id=\"pending\">\n");
        for p in pending {
            let _ = writeln!(
                body,
                "<li><a href=\"/console/pending/{id}\">{method}{kind}</a> from {who}, \
                 waits until {until}</li>",
                id = escape(&p.id),
                method = escape(&p.method),
                kind = kind_of(p),
                who = who(p),
                until = escape(&crate::clock::date(p.expires_at)),
            );
        }
        body.push_str("</ul>");
    }
    body.push('\n');
    body.push_str(&log_out_form(csrf));
    layout("Waiting requests", &body)
}

fn row(body: &mut String, id: &str, name: &str, html: &str) {
    let _ = writeln!(body, "<tr><th>{name}</th><td id=\"{id}\">{html}</td></tr>");
}

/// The event of a `sign_event`: kind, created_at as a UTC date, content, tags (one per
/// row, each value in its own cell).
fn event(body: &mut String, e: &Value) {
    if let Some(k) = e.get("kind").and_then(Value::as_u64) {
        row(body, "kind", "kind", &k.to_string());
    }
    if let Some(t) = e.get("created_at").and_then(Value::as_u64) {
        row(
            body,
            "created_at",
            "created at",
            &escape(&crate::clock::date(t)),
        );
    }
    let content = e.get("content").and_then(Value::as_str).unwrap_or("");
    row(
        body,
        "content",
        "content",
        &format!("<pre>{}</pre>", text(content)),
    );
    let tags = e
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut t = String::from("<table class=\"tags\">");
    for tag in &tags {
        t.push_str("<tr>");
        for v in tag.as_array().map(Vec::as_slice).unwrap_or_default() {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(t, "<td>{}</td>", text(&s));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    let shown = if tags.is_empty() {
        "none".to_owned()
    } else {
        t
    };
    row(body, "tags", "tags", &shown);
}

/// `GET /console/pending/<id>`: the request in full, and Approve / Deny.
pub fn one(p: &Pending, csrf: &str) -> String {
    let mut b = format!(
        "<h1>{}{} from a client</h1>\n<table>\n",
        escape(&p.method),
        kind_of(p)
    );
    row(&mut b, "client", "client", &who(p));
    row(&mut b, "npub", "npub", &escape(&p.client_npub));
    if let Some(m) = &p.meta {
        // Hints the client gave about itself, unverified; shown as text, never fetched.
        if let Some(u) = &m.url {
            row(
                &mut b,
                "url",
                "says its site is",
                &format!("<code>{}</code>", text(u)),
            );
        }
        if let Some(i) = &m.image {
            row(
                &mut b,
                "image",
                "says its image is",
                &format!("<code>{}</code>", text(i)),
            );
        }
    }
    row(&mut b, "method", "method", &escape(&p.method));
    if let Some(e) = &p.event {
        event(&mut b, e);
    }
    if let Some(peer) = &p.peer {
        let npub = nostr::PublicKey::from_hex(peer)
            .map(|k| crate::bunker::npub(&k))
            .unwrap_or_else(|_| peer.clone());
        row(&mut b, "peer", "with", &escape(&npub));
    }
    if let Some(n) = p.text_len {
        row(&mut b, "length", "plaintext length", &format!("{n} bytes"));
    }
    row(
        &mut b,
        "expires",
        "waits until",
        &escape(&crate::clock::date(p.expires_at)),
    );
    b.push_str(
        "</table>\n<p>The client's name, site and image are what it says about itself.</p>\n",
    );
    for (action, label) in [("approve", "Approve"), ("deny", "Deny")] {
        let _ = writeln!(
            b,
            "<form method=\"post\" action=\"/console/pending/{id}/{action}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\" id=\"{action}\">{label}</button></form>",
            id = escape(&p.id),
            csrf = escape(csrf),
        );
    }
    b.push_str("<p><a href=\"/console\">all waiting requests</a></p>");
    b.push_str(&log_out_form(csrf));
    layout(&format!("{}{}", p.method, kind_of(p)), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain café"), "plain café");
        assert_eq!(escape("&amp;"), "&amp;amp;");
    }

    fn hostile() -> Pending {
        Pending {
            id: "0123456789abcdef".into(),
            client: "aa".into(),
            client_npub: "npub1x".into(),
            meta: Some(crate::bunker::nostrconnect::ClientMeta {
                name: Some("<b>evil</b>".into()),
                url: Some("javascript:alert(1)".into()),
                image: Some("\"><img src=x>".into()),
            }),
            method: "sign_event".into(),
            kind: Some(1),
            event: Some(serde_json::json!({
                "kind": 1,
                "content": "<script>alert('hi')</script> & \u{202e}rtl\nline two",
                "tags": [["t", "<i>x</i>"], ["p", "\"q\"", 5]],
                "created_at": 0,
            })),
            peer: None,
            text_len: None,
            created_at: 0,
            expires_at: 60,
        }
    }

    #[test]
    fn a_hostile_request_is_shown_as_text() {
        let html = one(&hostile(), "c0ffee");
        for raw in ["<script>", "<b>evil", "<img", "<i>x", "\u{202e}"] {
            assert!(!html.contains(raw), "{raw} is raw in {html}");
        }
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt; &amp; ⟨U+202E⟩rtl\nline two"
            ),
            "{html}"
        );
        assert!(html.contains("<td>&lt;i&gt;x&lt;/i&gt;</td>"), "{html}");
        assert!(html.contains("<td>&quot;q&quot;</td><td>5</td>"), "{html}");
        assert!(
            html.contains("<td id=\"created_at\">1970-01-01T00:00:00Z</td>"),
            "{html}"
        );
        assert!(html.contains("<code>javascript:alert(1)</code>"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert_eq!(html.matches("name=\"csrf\" value=\"c0ffee\"").count(), 3);
        let list = list(&[hostile()], "c0ffee");
        assert!(
            !list.contains("<b>evil") && list.contains("&lt;b&gt;evil"),
            "{list}"
        );
    }
}

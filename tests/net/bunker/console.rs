//! The operator's console on serve's address: `passport bunker console` gives a one-time
//! login link; a real headless browser (Debian's chromium, driven by playwright-core in
//! tests/js/console-browser.mjs, JavaScript off) logs in, sees the asked `sign_event`
//! and approves it, and the NIP-46 client gets a libsecp256k1-valid event on its
//! request id. Without the browser: the cookie's exact flags, the token used once, a
//! POST without the CSRF token or from another origin refused and changing nothing, no
//! content without a session, and a hostile event shown escaped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nostr_sdk::RelayPoolNotification;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::broadcast::Receiver;

use super::approval::{reply, send};
use super::{bunker_pk, secret_of, Raw};
use crate::util::*;

/// A bunker that asks before every `sign_event`, a connected raw client of it, and the
/// approval page's URL of the `sign_event` (kind 1, `content`) it sent as `s1`.
struct Asked {
    relay: TestRelay,
    _dir: tempfile::TempDir,
    home: PathBuf,
    group_hex: String,
    serve: Serve,
    raw: Raw,
    news: Receiver<RelayPoolNotification>,
    pending_url: String,
    id: String,
}

fn asked(content: &str) -> Asked {
    let relay = start_relay();
    let dir = tempfile::tempdir().unwrap();
    let g = ci_group(dir.path(), None);
    let group_hex = nostr::PublicKey::parse(&g.group).unwrap().to_hex();
    let (serve, lines) = Serve::start_with(
        &g.ci.home,
        "127.0.0.1:0",
        &["--relay", relay.url.as_str(), "--ask", "sign_event"],
    );
    let uri = lines[0].clone();
    let (raw, news, pending_url) = relay.rt.block_on(async {
        let raw = Raw::new(&relay.url, bunker_pk(&uri)).await;
        let mut news = raw.client.notifications();
        send(&raw, "c", "connect", json!(["", secret_of(&uri)])).await;
        assert_eq!(
            reply(&raw, &mut news, "c", "connect").await["result"],
            "ack"
        );
        let unsigned = json!({"kind": 1, "content": content, "tags": [["t", "console"]],
            "created_at": 1_700_000_000u64});
        send(&raw, "s1", "sign_event", json!([unsigned.to_string()])).await;
        let r = reply(&raw, &mut news, "s1", "the auth_url").await;
        assert_eq!(r["result"], "auth_url", "{r}");
        let url = r["error"].as_str().unwrap().to_owned();
        (raw, news, url)
    });
    let id = pending_url
        .strip_prefix(&format!("{}/console/pending/", serve.url))
        .unwrap_or_else(|| panic!("{pending_url} is not serve's console"))
        .to_owned();
    Asked {
        relay,
        _dir: dir,
        home: g.ci.home,
        group_hex,
        serve,
        raw,
        news,
        pending_url,
        id,
    }
}

fn bunker_cmd(home: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut c = passport(home);
    c.arg("bunker").args(args);
    c
}

/// `bunker console --json`: the login link, checked against serve's URL.
fn login_link(a: &Asked) -> String {
    let v = json_ok(bunker_cmd(&a.home, &["console"]));
    let url = v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned();
    let token = url
        .strip_prefix(&format!("{}/console/login?token=", a.serve.url))
        .unwrap_or_else(|| panic!("{url} is not serve's login"));
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    let (now, exp) = (
        nostr::Timestamp::now().as_secs(),
        v["expires_at"].as_u64().unwrap(),
    );
    assert!(exp > now && exp <= now + 600, "{v}");
    assert!(v["expires"].as_str().unwrap().ends_with('Z'), "{v}");
    url
}

fn still_pending(a: &Asked) -> bool {
    let v = json_ok(bunker_cmd(&a.home, &["pending"]));
    v["pending"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == a.id.as_str())
}

/// tests/js with playwright-core installed, and the browser (scripts/test.sh installs
/// both).
fn js_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "chromium is not installed: apt-get install chromium (scripts/test.sh does)"
    );
    dir
}

#[test]
fn an_operator_logs_in_with_a_browser_and_approves_the_event() {
    let content = "approve me <b>in a browser</b> & \"quoted\"";
    let mut a = asked(content);
    let login = login_link(&a);
    let mut node = KillOnDrop(
        Command::new("node")
            .arg(js_dir().join("console-browser.mjs"))
            .arg(&login)
            .arg(&a.pending_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (20 or later) runs playwright-core"),
    );
    // The script gives up by itself after 90 s, so every read below ends.
    let mut out = BufReader::new(node.0.stdout.take().unwrap());
    let mut next = |what: &str| -> Value {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            !line.trim().is_empty(),
            "the browser script ended before printing {what}; its stderr is above"
        );
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line:?}"))
    };
    let landed = next("where the login link lands");
    assert_eq!(landed["landed"], "/console", "{landed}");
    assert_eq!(
        landed["query"], "",
        "the token left the address bar: {landed}"
    );
    assert_eq!(landed["status"], 200, "{landed}");
    assert_eq!(
        landed["links"],
        json!([format!("/console/pending/{}", a.id)]),
        "{landed}"
    );
    let cookie = next("the session cookie");
    assert_eq!(cookie["cookie"]["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["cookie"]["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["cookie"]["path"], "/console", "{cookie}");
    let r = next("the request page");
    let r = &r["request"];
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["method"], "sign_event", "{r}");
    assert_eq!(r["kind"], "1", "{r}");
    assert_eq!(r["content"], content, "{r}");
    assert_eq!(r["tags"], json!([["t", "console"]]), "{r}");
    assert_eq!(r["created_at"], "2023-11-14T22:13:20Z", "{r}");
    let npub = nostr::ToBech32::to_bech32(&a.raw.keys.public_key()).unwrap();
    assert_eq!(r["npub"], npub.as_str(), "{r}");
    assert_eq!(
        (r["scripts"].clone(), r["images"].clone()),
        (json!(0), json!(0))
    );
    let done = next("the result page");
    assert_eq!(
        done["result"]["message"], "approved: the client receives the signed event",
        "{done}"
    );
    assert_eq!(done["result"]["status"], 200, "{done}");
    let out = next("the logout");
    assert_eq!(
        out["logout"],
        json!({"status": 200, "message":
            "logged out: run `passport bunker console` for a new login link",
            "cookie_left": false, "after": 403}),
        "{out}"
    );
    let again = next("the login link a second time");
    assert_eq!(again["again"]["status"], 403, "{again}");
    assert!(
        again["again"]["message"]
            .as_str()
            .unwrap()
            .contains("used, unknown or expired"),
        "{again}"
    );
    assert!(node.0.wait().unwrap().success());

    let ev = a.relay.rt.block_on(async {
        let done = reply(&a.raw, &mut a.news, "s1", "the signed event").await;
        let ev = done["result"]
            .as_str()
            .unwrap_or_else(|| panic!("no result: {done}"));
        serde_json::from_str::<Value>(ev).unwrap()
    });
    assert_eq!(ev["content"], content);
    assert_eq!(ev["pubkey"], a.group_hex.as_str());
    verify_event_independently(&ev);
}

fn get(
    rt: &tokio::runtime::Runtime,
    url: &str,
    cookie: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut req = client.get(url);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.text().await.unwrap())
    })
}

fn post(
    rt: &tokio::runtime::Runtime,
    url: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    form: &str,
) -> (StatusCode, String) {
    rt.block_on(async {
        let mut req = http_client()
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    })
}

#[test]
fn the_console_needs_its_session_and_its_forms_and_escapes_what_clients_say() {
    let _ = http_client(); // installs rustls' provider for reqwest
    let hostile = "<script>alert('x')</script> & \"q\" <img src=x onerror=alert(1)>";
    let mut a = asked(hostile);
    let rt = &a.relay.rt;
    // Without a session: nothing of the request is shown.
    for url in [a.pending_url.clone(), format!("{}/console", a.serve.url)] {
        let (status, _, body) = get(rt, &url, None);
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}");
        assert!(
            body.contains("log in first: run `passport bunker console`"),
            "{body}"
        );
        assert!(!body.contains("alert") && !body.contains(&a.id), "{body}");
    }
    // For a phone: `--qr` draws the link it prints (stdout stays the link alone), and
    // that link logs in like any other.
    let out = bunker_cmd(&a.home, &["console", "--qr"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let link = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/console/login?token=", a.serve.url)),
        "{link}"
    );
    let drawn = qrcode::QrCode::new(link.as_bytes())
        .unwrap()
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&drawn), "the QR code of {link} in {stderr}");
    assert_eq!(get(rt, &link, None).0, StatusCode::SEE_OTHER);

    let login = login_link(&a);
    let (status, headers, _) = get(rt, &login, None);
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "/console");
    let set = headers[SET_COOKIE].to_str().unwrap().to_owned();
    let (pair, flags) = set.split_once("; ").unwrap();
    assert_eq!(
        flags,
        "HttpOnly; SameSite=Strict; Path=/console; Max-Age=900"
    );
    let session = pair.strip_prefix("passport_console=").unwrap();
    assert!(session.len() == 64 && !login.contains(session), "{set}");
    let cookie = pair.to_owned();
    // The link works once.
    let (status, _, body) = get(rt, &login, None);
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("used, unknown or expired"), "{body}");
    assert!(get(rt, &login, None).1.get(SET_COOKIE).is_none());
    // An unknown session is no session.
    let forged = format!("passport_console={}", "0".repeat(64));
    assert_eq!(
        get(rt, &a.pending_url, Some(&forged)).0,
        StatusCode::FORBIDDEN
    );

    let (status, _, list) = get(rt, &format!("{}/console", a.serve.url), Some(&cookie));
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains(&format!("href=\"/console/pending/{}\"", a.id)),
        "{list}"
    );
    let (status, headers, page) = get(rt, &a.pending_url, Some(&cookie));
    assert_eq!(status, StatusCode::OK);
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("content-type", "text/html; charset=utf-8"),
    ] {
        assert_eq!(headers[name], value, "{name}");
    }
    assert!(
        page.contains(
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; \
             &lt;img src=x onerror=alert(1)&gt;"
        ),
        "{page}"
    );
    assert!(
        !page.contains("<script") && !page.contains("<img"),
        "{page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let approve = format!("{}/approve", a.pending_url);
    let deny = format!("{}/deny", a.pending_url);
    let own = a.serve.url.clone();
    // Refused, and nothing changes: no CSRF token, a wrong one, another origin, no session.
    for (cookie, origin, form, what) in [
        (
            Some(cookie.as_str()),
            Some(own.as_str()),
            String::new(),
            "no CSRF token",
        ),
        (
            Some(cookie.as_str()),
            Some(own.as_str()),
            format!("csrf={}", "ab".repeat(32)),
            "a wrong token",
        ),
        (
            Some(cookie.as_str()),
            Some("http://evil.example"),
            format!("csrf={csrf}"),
            "another origin",
        ),
        (
            None,
            Some(own.as_str()),
            format!("csrf={csrf}"),
            "no session",
        ),
    ] {
        let (status, body) = post(rt, &approve, cookie, origin, &form);
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(still_pending(&a), "{what} changed the request");
    }
    // A GET of a decision URL changes nothing either.
    assert_eq!(
        get(rt, &approve, Some(&cookie)).0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert!(still_pending(&a));

    let (status, body) = post(
        rt,
        &deny,
        Some(&cookie),
        Some(&own),
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("denied"), "{body}");
    let r = rt.block_on(reply(&a.raw, &mut a.news, "s1", "the denial"));
    assert_eq!(r["error"], "denied by the operator", "{r}");
    let (status, body) = post(
        rt,
        &approve,
        Some(&cookie),
        Some(&own),
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("already approved or denied"), "{body}");
    assert!(!still_pending(&a));
    // A decided request shows no buttons any more.
    let (status, _, page) = get(rt, &a.pending_url, Some(&cookie));
    assert_eq!(status, StatusCode::GONE);
    assert!(!page.contains("csrf") && !page.contains("alert"), "{page}");

    // Log out: a form of the session like the others (refused without its token), and
    // afterwards the cookie opens nothing.
    let logout = format!("{}/console/logout", a.serve.url);
    let (status, body) = post(rt, &logout, Some(&cookie), Some(&own), "");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let console = format!("{}/console", a.serve.url);
    assert_eq!(get(rt, &console, Some(&cookie)).0, StatusCode::OK);
    let (status, body) = post(
        rt,
        &logout,
        Some(&cookie),
        Some(&own),
        &format!("csrf={csrf}"),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("logged out"), "{body}");
    let (status, _, body) = get(rt, &console, Some(&cookie));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("log in first"), "{body}");

    // No console without a running serve.
    let home = a.home.clone();
    drop(a);
    expect_error_line(
        &mut bunker_cmd(&home, &["console"]),
        1,
        &["no running `passport serve --relay`"],
    );
}

//! The HTTP API of `passport serve`, driven in process through `serve::router`, with
//! real signed packages (the library's own `envelope::seal`, a real DKG round 1) and
//! real NIP-98 auth events signed by the members' keys.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use base64::Engine;
use nostr::hashes::{sha256::Hash as Sha256Hash, Hash};
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, Tag, Timestamp, Url};
use serde_json::{json, Value};
use tower::ServiceExt;

use passport::ceremony::{dkg, Member, MemberId, Roster};
use passport::envelope::{self, Binding, Draft, Round};
use passport::serve::{self, AppState, Config};

const BASE: &str = "http://passport.test";

fn config(db: &Path) -> Config {
    Config {
        public_url: Some(BASE.into()),
        ..Config::with_db(db.to_owned())
    }
}

/// Members' keys and a roster over them (alice, bob, carol; 2-of-3), optionally with a dealer.
struct Party {
    keys: Vec<Keys>,
    dealer: Keys,
    roster: Roster,
}

impl Party {
    fn new(with_dealer: bool) -> Self {
        let keys: Vec<Keys> = (0..3).map(|_| Keys::generate()).collect();
        let dealer = Keys::generate();
        let members = ["alice", "bob", "carol"]
            .iter()
            .zip(&keys)
            .map(|(n, k)| Member {
                name: (*n).into(),
                npub: k.public_key(),
            })
            .collect();
        let roster = Roster::new(
            "serve test",
            2,
            members,
            with_dealer.then(|| dealer.public_key()),
            &mut rand::rngs::OsRng,
        )
        .expect("roster");
        Party {
            keys,
            dealer,
            roster,
        }
    }

    fn k(&self, seat: MemberId) -> &Keys {
        &self.keys[seat as usize - 1]
    }

    fn pk(&self, seat: MemberId) -> PublicKey {
        self.k(seat).public_key()
    }
}

/// A test server on its own database.
struct Server {
    tmp: tempfile::TempDir,
    app: Router,
}

impl Server {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut c = config(&tmp.path().join("serve").join("serve.sqlite"));
        tweak(&mut c);
        let app = serve::router(AppState::open(c).expect("open state"));
        Server { tmp, app }
    }

    fn db(&self) -> PathBuf {
        self.tmp.path().join("serve").join("serve.sqlite")
    }

    /// Drops the router and opens a new one on the same database.
    fn restart(self) -> Self {
        let Server { tmp, app } = self;
        drop(app);
        let c = config(&tmp.path().join("serve").join("serve.sqlite"));
        let app = serve::router(AppState::open(c).expect("reopen state"));
        Server { tmp, app }
    }

    async fn raw(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8 body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// A request authenticated by `keys` (when given) with a fresh NIP-98 event.
    async fn call(
        &self,
        method: &str,
        path: &str,
        keys: Option<&Keys>,
        body: Option<&[u8]>,
    ) -> Reply {
        let auth = keys.map(|k| nip98(k, method, &format!("{BASE}{path}"), body, Timestamp::now()));
        self.send(method, path, auth.as_deref(), body).await
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_vec()));
        self.raw(b.body(body).expect("request")).await
    }

    async fn create(&self, p: &Party, keys: &Keys) -> Reply {
        let roster = p.roster.to_json_pretty();
        self.call(
            "POST",
            "/v1/ceremonies",
            Some(keys),
            Some(roster.as_bytes()),
        )
        .await
    }

    async fn ceremony(&self, p: &Party) -> String {
        let r = self.create(p, p.k(1)).await;
        assert!(r.status.is_success(), "create: {} {}", r.status, r.text);
        r.json["id"].as_str().expect("id").to_owned()
    }

    async fn post(&self, id: &str, keys: &Keys, event: &Event) -> Reply {
        let body = event.as_json();
        self.call(
            "POST",
            &format!("/v1/ceremonies/{id}/packages"),
            Some(keys),
            Some(body.as_bytes()),
        )
        .await
    }

    async fn status(&self, id: &str, keys: &Keys) -> Value {
        let r = self
            .call("GET", &format!("/v1/ceremonies/{id}"), Some(keys), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json
    }

    async fn count(&self, id: &str, keys: &Keys) -> u64 {
        self.status(id, keys).await["packages"]
            .as_u64()
            .expect("count")
    }

    async fn fetch(&self, id: &str, keys: &Keys, query: &str) -> Reply {
        self.call(
            "GET",
            &format!("/v1/ceremonies/{id}/packages?{query}"),
            Some(keys),
            None,
        )
        .await
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Reply {
    /// Asserts an error reply: status, kind, and a message mentioning every needle.
    fn error(&self, status: StatusCode, kind: &str, needles: &[&str]) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.json["error"], kind, "{}", self.text);
        let msg = self.json["message"].as_str().expect("message");
        for n in needles {
            assert!(msg.contains(n), "message does not mention {n:?}: {msg}");
        }
    }
}

fn nip98(keys: &Keys, method: &str, url: &str, body: Option<&[u8]>, at: Timestamp) -> String {
    let m = match method {
        "POST" => HttpMethod::POST,
        "PUT" => HttpMethod::PUT,
        _ => HttpMethod::GET,
    };
    let mut data = HttpData::new(Url::parse(url).expect("url"), m);
    if let Some(b) = body {
        data = data.payload(Sha256Hash::hash(b));
    }
    // No nonce tag: identical requests within one second sign identical events, and the
    // replay cache (keyed on the signature) must still accept each fresh signature.
    let ev = EventBuilder::http_auth(data)
        .custom_created_at(at)
        .sign_with_keys(keys)
        .expect("sign auth");
    format!(
        "Nostr {}",
        base64::engine::general_purpose::STANDARD.encode(ev.as_json())
    )
}

/// A package with any payload (the server never reads payloads).
fn package(
    keys: &Keys,
    roster: &Roster,
    round: Round,
    from: Option<MemberId>,
    to: Option<(PublicKey, MemberId)>,
    reference: Option<String>,
) -> Event {
    envelope::seal(
        keys,
        Draft {
            binding: &Binding::of(roster),
            round,
            from,
            to,
            reference,
            payload: &json!({ "n": rand::random::<u64>() }),
        },
    )
    .expect("seal")
}

/// A real DKG round-1 package from `seat`.
fn dkg1(p: &Party, seat: MemberId) -> Event {
    let (_secret, pkg) = dkg::part1(&p.roster, seat, &mut rand::rngs::OsRng).expect("part1");
    envelope::seal(
        p.k(seat),
        Draft {
            binding: &Binding::of(&p.roster),
            round: Round::Dkg1,
            from: Some(seat),
            to: None,
            reference: None,
            payload: &pkg,
        },
    )
    .expect("seal dkg-1")
}

fn raw_event(keys: &Keys, tags: &[&[&str]], content: &str) -> Event {
    let tags: Vec<Tag> = tags
        .iter()
        .map(|t| Tag::parse(t.iter().copied()).expect("tag"))
        .collect();
    EventBuilder::new(Kind::from(envelope::PACKAGE_KIND), content)
        .tags(tags)
        .sign_with_keys(keys)
        .expect("sign")
}

fn seqs(r: &Reply) -> Vec<i64> {
    r.json["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["seq"].as_i64().expect("seq"))
        .collect()
}

fn ids(r: &Reply) -> Vec<String> {
    r.json["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["event"]["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn create_registers_each_roster_once() {
    let s = Server::new();
    let p = Party::new(false);
    let first = s.create(&p, p.k(1)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let id = first.json["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(first.json["ceremony"], p.roster.ceremony_id.as_str());
    assert_eq!(first.json["roster_hash"], p.roster.hash_hex().as_str());
    assert_eq!(first.json["created"], true);
    assert_eq!(first.json["other_rosters"], 0);

    // Another member posting the same roster (formatted differently) gets the same id.
    let compact = serde_json::to_string(&p.roster).expect("json");
    let again = s
        .call(
            "POST",
            "/v1/ceremonies",
            Some(p.k(2)),
            Some(compact.as_bytes()),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["id"], id.as_str());
    assert_eq!(again.json["created"], false);

    let outsider = Keys::generate();
    s.create(&p, &outsider).await.error(
        StatusCode::FORBIDDEN,
        "not-a-member",
        &["neither a member"],
    );

    // Another roster under the same ceremony id is another ceremony, not a conflict.
    let mut other = p.roster.clone();
    other.purpose = "something else".into();
    let body = other.to_json_pretty();
    let r = s
        .call(
            "POST",
            "/v1/ceremonies",
            Some(p.k(1)),
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_ne!(r.json["id"], id.as_str());
    assert_eq!(r.json["ceremony"], p.roster.ceremony_id.as_str());
    assert_eq!(r.json["other_rosters"], 1);

    s.call(
        "POST",
        "/v1/ceremonies",
        Some(p.k(1)),
        Some(b"{\"version\":1}"),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "malformed", &["roster"]);

    // The dealer of a dealer roster may register it too.
    let d = Party::new(true);
    let r = s.create(&d, &d.dealer).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn status_needs_a_known_id_and_a_member() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let st = s.status(&id, p.k(2)).await;
    assert_eq!(st["state"], "open");
    assert_eq!(st["threshold"], 2);
    assert_eq!(st["packages"], 0);
    assert_eq!(st["members"][1]["name"], "bob");
    assert_eq!(st["members"][1]["seat"], 2);
    s.call(
        "GET",
        &format!("/v1/ceremonies/{id}"),
        Some(&Keys::generate()),
        None,
    )
    .await
    .error(
        StatusCode::FORBIDDEN,
        "not-a-member",
        &[&p.roster.ceremony_id],
    );
    s.call(
        "GET",
        "/v1/ceremonies/00000000000000000000000000000000",
        Some(p.k(1)),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "not-found", &["no ceremony"]);
    s.call("GET", "/v1/ceremonies/not-an-id", Some(p.k(1)), None)
        .await
        .error(StatusCode::NOT_FOUND, "not-found", &["not-an-id"]);
}

#[tokio::test]
async fn post_is_idempotent_and_refuses_equivocation() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let ev = dkg1(&p, 1);
    let r = s.post(&id, p.k(1), &ev).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["duplicate"], false);
    assert_eq!(r.json["id"], ev.id.to_hex().as_str());
    let seq = r.json["seq"].as_i64().expect("seq");

    // The same event again, even relayed by another member: 200, same seq.
    let dup = s.post(&id, p.k(2), &ev).await;
    assert_eq!(dup.status, StatusCode::OK, "{}", dup.text);
    assert_eq!(dup.json["duplicate"], true);
    assert_eq!(dup.json["seq"], seq);

    // A different round-1 package from alice is equivocation.
    s.post(&id, p.k(1), &dkg1(&p, 1)).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["alice", "DKG round-1"],
    );
    assert_eq!(s.count(&id, p.k(1)).await, 1);

    // Signing commitments and requests are published anew over time: no conflict.
    for _ in 0..2 {
        let c = package(p.k(2), &p.roster, Round::SignCommit, Some(2), None, None);
        assert_eq!(s.post(&id, p.k(2), &c).await.status, StatusCode::CREATED);
    }
    assert_eq!(s.count(&id, p.k(1)).await, 3);
}

#[tokio::test]
async fn every_rejection_has_its_status_and_stores_nothing() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let good = dkg1(&p, 1);
    let pkgs = format!("/v1/ceremonies/{id}/packages");

    let not_json = s.call("POST", &pkgs, Some(p.k(1)), Some(b"hello")).await;
    not_json.error(StatusCode::BAD_REQUEST, "malformed", &["not a Nostr event"]);

    // Tampered content: the id no longer matches; the message names who it claims to be.
    let mut v: Value = serde_json::from_str(&good.as_json()).expect("json");
    v["content"] = json!("{}");
    let tampered = v.to_string();
    s.call("POST", &pkgs, Some(p.k(1)), Some(tampered.as_bytes()))
        .await
        .error(StatusCode::BAD_REQUEST, "malformed", &["forged", "alice"]);

    // A forged signature over the right id.
    let mut v: Value = serde_json::from_str(&good.as_json()).expect("json");
    v["sig"] = json!("00".repeat(64));
    let forged = v.to_string();
    s.call("POST", &pkgs, Some(p.k(1)), Some(forged.as_bytes()))
        .await
        .error(StatusCode::BAD_REQUEST, "malformed", &["forged", "alice"]);

    // Missing tags.
    let untagged = raw_event(p.k(1), &[&["passport", "1"]], "{}");
    s.post(&id, p.k(1), &untagged)
        .await
        .error(StatusCode::BAD_REQUEST, "malformed", &["tag"]);

    // Another ceremony, and the same ceremony id under another roster.
    let other = Party::new(false);
    let foreign = package(p.k(1), &other.roster, Round::Dkg1, Some(1), None, None);
    s.post(&id, p.k(1), &foreign).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-ceremony",
        &["ceremony"],
    );
    let mut changed = p.roster.clone();
    changed.purpose = "changed".into();
    let rebound = package(p.k(1), &changed, Round::Dkg1, Some(1), None, None);
    s.post(&id, p.k(1), &rebound).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-ceremony",
        &["alice", "roster"],
    );

    // Signed by someone outside the roster, or by a member claiming another's seat.
    let outsider = Keys::generate();
    let stranger = package(&outsider, &p.roster, Round::Dkg1, Some(1), None, None);
    s.post(&id, p.k(1), &stranger).await.error(
        StatusCode::FORBIDDEN,
        "not-a-member",
        &["not a member"],
    );
    let impostor = package(p.k(2), &p.roster, Round::Dkg1, Some(1), None, None);
    s.post(&id, p.k(2), &impostor).await.error(
        StatusCode::FORBIDDEN,
        "not-a-member",
        &["alice", "bob"],
    );

    // Rounds that do not fit.
    let share = package(
        &p.dealer,
        &p.roster,
        Round::DealerShare,
        None,
        Some((p.pk(2), 2)),
        None,
    );
    s.post(&id, p.k(1), &share)
        .await
        .error(StatusCode::FORBIDDEN, "not-a-member", &[]);
    let member_share = package(
        p.k(1),
        &p.roster,
        Round::DealerShare,
        Some(1),
        Some((p.pk(2), 2)),
        None,
    );
    s.post(&id, p.k(1), &member_share).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["alice", "no dealer"],
    );
    let early = package(
        p.k(1),
        &p.roster,
        Round::Dkg2,
        Some(1),
        Some((p.pk(2), 2)),
        None,
    );
    s.post(&id, p.k(1), &early).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["alice", "round-1"],
    );
    let early_agree = package(p.k(1), &p.roster, Round::DkgAgree, Some(1), None, None);
    s.post(&id, p.k(1), &early_agree).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["alice"],
    );
    let orphan = package(
        p.k(2),
        &p.roster,
        Round::SignShare,
        Some(2),
        None,
        Some("ab".repeat(32)),
    );
    s.post(&id, p.k(2), &orphan).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["bob", "signing request"],
    );
    let unreferenced = package(p.k(2), &p.roster, Round::SignShare, Some(2), None, None);
    s.post(&id, p.k(2), &unreferenced).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["bob"],
    );

    // Recipients: a seat whose key differs, a seat outside the roster, and a
    // confidential round sent in the clear.
    assert_eq!(s.post(&id, p.k(1), &good).await.status, StatusCode::CREATED);
    let misaddressed = package(
        p.k(1),
        &p.roster,
        Round::Dkg2,
        Some(1),
        Some((p.pk(3), 2)),
        None,
    );
    s.post(&id, p.k(1), &misaddressed).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-recipient",
        &["alice", "bob"],
    );
    let nowhere = package(
        p.k(1),
        &p.roster,
        Round::Dkg2,
        Some(1),
        Some((p.pk(3), 9)),
        None,
    );
    s.post(&id, p.k(1), &nowhere).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-recipient",
        &["seat 9"],
    );
    let b = Binding::of(&p.roster);
    let clear = raw_event(
        p.k(1),
        &[
            &["passport", "1"],
            &["c", &b.ceremony],
            &["roster", &b.roster_hash],
            &["round", "dkg-2"],
            &["member", "1"],
        ],
        "{}",
    );
    s.post(&id, p.k(1), &clear).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-recipient",
        &["encrypted"],
    );

    // Only `good` was stored.
    assert_eq!(s.count(&id, p.k(1)).await, 1);
}

#[tokio::test]
async fn dealer_rosters_take_dealer_shares_only_from_the_dealer() {
    let s = Server::new();
    let p = Party::new(true);
    let id = s.ceremony(&p).await;
    let share = package(
        &p.dealer,
        &p.roster,
        Round::DealerShare,
        None,
        Some((p.pk(2), 2)),
        None,
    );
    let r = s.post(&id, &p.dealer, &share).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let not_dealer = package(
        p.k(1),
        &p.roster,
        Round::DealerShare,
        None,
        Some((p.pk(2), 2)),
        None,
    );
    s.post(&id, p.k(1), &not_dealer).await.error(
        StatusCode::FORBIDDEN,
        "not-a-member",
        &["dealer"],
    );
    s.post(&id, p.k(1), &dkg1(&p, 1)).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-round",
        &["alice", "dealer"],
    );
    // The share is for bob: bob and the dealer see it, carol does not.
    assert_eq!(
        ids(&s.fetch(&id, p.k(2), "since=0").await),
        vec![share.id.to_hex()]
    );
    assert_eq!(
        ids(&s.fetch(&id, &p.dealer, "since=0").await),
        vec![share.id.to_hex()]
    );
    assert!(ids(&s.fetch(&id, p.k(3), "since=0").await).is_empty());
    let st = s.status(&id, &p.dealer).await;
    assert_eq!(st["state"], "open");
    assert_eq!(st["packages"], 1);
}

#[tokio::test]
async fn signature_shares_answer_accepted_requests() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    // A coordinator outside the roster may sign a request; a member relays it.
    let coordinator = Keys::generate();
    let req = package(
        &coordinator,
        &p.roster,
        Round::SignRequest,
        None,
        None,
        None,
    );
    assert_eq!(s.post(&id, p.k(1), &req).await.status, StatusCode::CREATED);
    let share = package(
        p.k(2),
        &p.roster,
        Round::SignShare,
        Some(2),
        None,
        Some(req.id.to_hex()),
    );
    assert_eq!(
        s.post(&id, p.k(2), &share).await.status,
        StatusCode::CREATED
    );
    let again = package(
        p.k(2),
        &p.roster,
        Round::SignShare,
        Some(2),
        None,
        Some(req.id.to_hex()),
    );
    s.post(&id, p.k(2), &again).await.error(
        StatusCode::CONFLICT,
        "conflict",
        &["bob", "signature share"],
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let pkgs = format!("/v1/ceremonies/{id}/packages");
    let huge = vec![b' '; serve::config::DEFAULT_MAX_BODY_BYTES + 1];
    s.send("POST", &pkgs, None, Some(&huge)).await.error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        &[],
    );
    // Within the body limit but over the package limit.
    let big = vec![b' '; envelope::MAX_PACKAGE_BYTES + 10];
    s.call("POST", &pkgs, Some(p.k(1)), Some(&big)).await.error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        &[],
    );
    assert_eq!(s.count(&id, p.k(1)).await, 0);
}

#[tokio::test]
async fn auth_is_bound_to_url_method_time_and_use() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let path = format!("/v1/ceremonies/{id}");
    let url = format!("{BASE}{path}");

    s.send("GET", &path, None, None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["missing"],
    );
    s.send("GET", &path, Some("Bearer x"), None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["Nostr"],
    );

    let once = nip98(p.k(1), "GET", &url, None, Timestamp::now());
    assert_eq!(
        s.send("GET", &path, Some(&once), None).await.status,
        StatusCode::OK
    );
    s.send("GET", &path, Some(&once), None).await.error(
        StatusCode::UNAUTHORIZED,
        "replayed",
        &["already used"],
    );

    let old = Timestamp::from(Timestamp::now().as_secs() - 600);
    let expired = nip98(p.k(1), "GET", &url, None, old);
    s.send("GET", &path, Some(&expired), None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["old"],
    );

    let elsewhere = nip98(
        p.k(1),
        "GET",
        &format!("{url}/packages"),
        None,
        Timestamp::now(),
    );
    s.send("GET", &path, Some(&elsewhere), None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["URL"],
    );
    let other_query = nip98(
        p.k(1),
        "GET",
        &format!("{url}/packages?since=1"),
        None,
        Timestamp::now(),
    );
    s.send(
        "GET",
        &format!("{path}/packages?since=2"),
        Some(&other_query),
        None,
    )
    .await
    .error(StatusCode::UNAUTHORIZED, "unauthorized", &["URL"]);
    let other_host = nip98(
        p.k(1),
        "GET",
        &format!("http://evil.test{path}"),
        None,
        Timestamp::now(),
    );
    s.send("GET", &path, Some(&other_host), None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["URL"],
    );

    let post_auth = nip98(p.k(1), "POST", &url, None, Timestamp::now());
    s.send("GET", &path, Some(&post_auth), None).await.error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        &["method"],
    );

    // The payload tag must be the hash of this body.
    let pkgs = format!("{path}/packages");
    let ev = dkg1(&p, 1).as_json();
    let for_other_body = nip98(
        p.k(1),
        "POST",
        &format!("{BASE}{pkgs}"),
        Some(b"{}"),
        Timestamp::now(),
    );
    s.send("POST", &pkgs, Some(&for_other_body), Some(ev.as_bytes()))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized", &["payload"]);
    assert_eq!(s.count(&id, p.k(1)).await, 0);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = Server::with(|c| {
        c.rate_per_pubkey = 0.01;
        c.burst_per_pubkey = 3;
    });
    let p = Party::new(false);
    let id = s.ceremony(&p).await; // 1 token
    let path = format!("/v1/ceremonies/{id}");
    for _ in 0..2 {
        assert_eq!(
            s.call("GET", &path, Some(p.k(1)), None).await.status,
            StatusCode::OK
        );
    }
    let r = s.call("GET", &path, Some(p.k(1)), None).await;
    r.error(StatusCode::TOO_MANY_REQUESTS, "rate-limited", &["retry"]);
    let retry: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("integer seconds");
    assert!(retry >= 1);
    // Other keys are not affected.
    assert_eq!(
        s.call("GET", &path, Some(p.k(2)), None).await.status,
        StatusCode::OK
    );

    let s = Server::with(|c| {
        c.rate_per_ip = 0.01;
        c.burst_per_ip = 2;
    });
    for _ in 0..2 {
        assert_eq!(
            s.send("GET", "/healthz", None, None).await.status,
            StatusCode::OK
        );
    }
    let r = s.send("GET", "/healthz", None, None).await;
    r.error(StatusCode::TOO_MANY_REQUESTS, "rate-limited", &["address"]);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn members_see_broadcasts_their_own_and_what_is_addressed_to_them() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let mut round1 = Vec::new();
    for seat in 1..=3 {
        let ev = dkg1(&p, seat);
        assert_eq!(
            s.post(&id, p.k(seat), &ev).await.status,
            StatusCode::CREATED
        );
        round1.push(ev.id.to_hex());
    }
    // A real confidential package: NIP-44 encrypted by `seal` to bob.
    let to_bob = package(
        p.k(1),
        &p.roster,
        Round::Dkg2,
        Some(1),
        Some((p.pk(2), 2)),
        None,
    );
    assert!(to_bob.content != "{}" && !to_bob.content.contains("\"n\""));
    assert_eq!(
        s.post(&id, p.k(1), &to_bob).await.status,
        StatusCode::CREATED
    );

    let mut with_private = round1.clone();
    with_private.push(to_bob.id.to_hex());
    assert_eq!(ids(&s.fetch(&id, p.k(2), "since=0").await), with_private);
    assert_eq!(ids(&s.fetch(&id, p.k(1), "since=0").await), with_private);
    assert_eq!(ids(&s.fetch(&id, p.k(3), "since=0").await), round1);
    // Stored unchanged: the fetched event is byte-for-byte the posted one.
    let r = s.fetch(&id, p.k(2), "round=dkg-2").await;
    let fetched: Event =
        serde_json::from_value(r.json["packages"][0]["event"].clone()).expect("event");
    assert_eq!(fetched, to_bob);
    fetched.verify().expect("still verifies");
    s.fetch(&id, p.k(2), "round=dkg-9").await.error(
        StatusCode::BAD_REQUEST,
        "bad-request",
        &["dkg-9"],
    );
    s.fetch(&id, p.k(2), "since=x")
        .await
        .error(StatusCode::BAD_REQUEST, "bad-request", &[]);
}

#[tokio::test]
async fn cursor_pages_through_packages() {
    let s = Server::with(|c| {
        c.rate_per_pubkey = 1e6;
        c.burst_per_pubkey = 1_000_000;
        c.rate_per_ip = 1e6;
        c.burst_per_ip = 1_000_000;
    });
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let total = 1003;
    for _ in 0..total {
        let c = package(p.k(1), &p.roster, Round::SignCommit, Some(1), None, None);
        assert_eq!(s.post(&id, p.k(1), &c).await.status, StatusCode::CREATED);
    }
    let first = s.fetch(&id, p.k(2), "since=0").await;
    assert_eq!(seqs(&first).len(), 1000);
    assert_eq!(first.json["more"], true, "the count limit cut the page");
    let cursor = first.json["cursor"].as_i64().expect("cursor");
    assert_eq!(Some(&cursor), seqs(&first).last());
    let second = s.fetch(&id, p.k(2), &format!("since={cursor}")).await;
    assert_eq!(seqs(&second).len(), total - 1000);
    assert!(seqs(&second).iter().all(|&q| q > cursor));
    // The rest fit: a client need not ask again to learn that nothing follows.
    assert_eq!(second.json["more"], false);
    let end = second.json["cursor"].as_i64().expect("cursor");
    let none = s.fetch(&id, p.k(2), &format!("since={end}")).await;
    assert!(seqs(&none).is_empty());
    assert_eq!(none.json["cursor"], end);
    assert_eq!(none.json["more"], false);
}

#[tokio::test]
async fn long_poll_returns_when_a_package_arrives_or_times_out() {
    let p = std::sync::Arc::new(Party::new(false));

    // Nothing arrives: an empty page after min(wait, long_poll_max_secs).
    let capped = Server::with(|c| c.long_poll_max_secs = 1);
    let id = capped.ceremony(&p).await;
    let t = Instant::now();
    let r = capped.fetch(&id, p.k(2), "since=0&wait=30").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(seqs(&r).is_empty());
    assert_eq!(r.json["cursor"], 0);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // carol waits; a package for bob does not end her wait, bob's broadcast does.
    let s = std::sync::Arc::new(Server::new());
    let id = s.ceremony(&p).await;
    let a1 = s.post(&id, p.k(1), &dkg1(&p, 1)).await;
    let since = a1.json["seq"].as_i64().expect("seq");
    let waiter = {
        let (s, p, id) = (s.clone(), p.clone(), id.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let r = s
                .fetch(&id, p.k(3), &format!("since={since}&wait=20"))
                .await;
            (r, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to_bob = package(
        p.k(1),
        &p.roster,
        Round::Dkg2,
        Some(1),
        Some((p.pk(2), 2)),
        None,
    );
    assert_eq!(
        s.post(&id, p.k(1), &to_bob).await.status,
        StatusCode::CREATED
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b1 = dkg1(&p, 2);
    assert_eq!(s.post(&id, p.k(2), &b1).await.status, StatusCode::CREATED);
    let (r, took) = waiter.await.expect("join");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(ids(&r), vec![b1.id.to_hex()]);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "returned after {took:?}"
    );
}

#[tokio::test]
async fn status_counts_and_agreement() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    for seat in 1..=3 {
        assert_eq!(
            s.post(&id, p.k(seat), &dkg1(&p, seat)).await.status,
            StatusCode::CREATED
        );
    }
    for seat in 1..=3 {
        assert_eq!(s.status(&id, p.k(1)).await["state"], "open");
        let agree = package(
            p.k(seat),
            &p.roster,
            Round::DkgAgree,
            Some(seat),
            None,
            None,
        );
        let r = s.post(&id, p.k(seat), &agree).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let st = s.status(&id, p.k(3)).await;
    assert_eq!(st["state"], "agreed");
    assert_eq!(st["packages"], 6);
    for m in st["members"].as_array().expect("members") {
        assert_eq!(m["sent"], json!({ "dkg-1": 1, "dkg-agree": 1 }));
        assert!(m["npub"].as_str().expect("npub").starts_with("npub1"));
    }
}

#[tokio::test]
async fn state_survives_a_restart() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    let ev = dkg1(&p, 1);
    let seq = s.post(&id, p.k(1), &ev).await.json["seq"].clone();
    let url = format!("{BASE}/v1/ceremonies/{id}");
    let used = nip98(p.k(2), "GET", &url, None, Timestamp::now());
    assert_eq!(
        s.send("GET", &format!("/v1/ceremonies/{id}"), Some(&used), None)
            .await
            .status,
        StatusCode::OK
    );
    let db = s.db();
    let s = s.restart();
    assert!(db.exists());
    assert_eq!(s.count(&id, p.k(2)).await, 1);
    let dup = s.post(&id, p.k(1), &ev).await;
    assert_eq!(dup.status, StatusCode::OK);
    assert_eq!(dup.json["seq"], seq);
    assert_eq!(s.create(&p, p.k(3)).await.json["id"], id.as_str());
    // The replay cache is on disk too.
    s.send("GET", &format!("/v1/ceremonies/{id}"), Some(&used), None)
        .await
        .error(StatusCode::UNAUTHORIZED, "replayed", &[]);
    // A later package gets a later seq.
    let next = s.post(&id, p.k(2), &dkg1(&p, 2)).await.json["seq"]
        .as_i64()
        .expect("seq");
    assert!(next > seq.as_i64().expect("seq"));
}

#[cfg(unix)]
#[tokio::test]
async fn database_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::new();
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&s.db()), 0o600);
    assert_eq!(mode(s.db().parent().expect("dir")), 0o700);
}

#[tokio::test]
async fn healthz_answers() {
    let s = Server::new();
    let r = s.send("GET", "/healthz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json, json!({ "status": "ok" }));
    s.send("GET", "/nope", None, None)
        .await
        .error(StatusCode::NOT_FOUND, "not-found", &["/nope"]);
    s.send("DELETE", "/healthz", None, None).await.error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        &["DELETE"],
    );
}

#[tokio::test]
async fn metrics_name_routes_by_template() {
    let s = Server::new();
    let p = Party::new(false);
    let id = s.ceremony(&p).await;
    assert_eq!(
        s.post(&id, p.k(1), &dkg1(&p, 1)).await.status,
        StatusCode::CREATED
    );
    s.status(&id, p.k(1)).await;
    s.send("GET", &format!("/v1/ceremonies/{id}"), None, None)
        .await;
    s.fetch(&id, p.k(1), "since=0").await;
    let r = s.send("GET", "/metrics", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text;
    for needle in [
        "passport_http_requests_total{route=\"/v1/ceremonies/{id}\",method=\"GET\",status=\"200\"} 1",
        "passport_http_requests_total{route=\"/v1/ceremonies/{id}\",method=\"GET\",status=\"401\"} 1",
        "passport_http_requests_total{route=\"/v1/ceremonies/{id}/packages\",method=\"POST\",status=\"201\"} 1",
        "passport_http_requests_total{route=\"/v1/ceremonies\",method=\"POST\",status=\"201\"} 1",
        "passport_http_request_duration_seconds_count{route=\"/v1/ceremonies\"} 1",
        "passport_ceremonies{state=\"open\"} 1",
        "passport_ceremonies{state=\"agreed\"} 0",
        "passport_packages_total{round=\"dkg-1\"} 1",
        "passport_packages_total{round=\"sign-share\"} 0",
        "passport_errors_total{kind=\"unauthorized\"} 1",
        "passport_long_polls_active 0",
        "# TYPE passport_http_request_duration_seconds histogram",
        // The one fsynced write was the round-1 package; the NIP-98 records are relaxed.
        "passport_db_write_batches_total{sync=\"full\"} 1",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("metrics lack {name}:\n{text}"))
    };
    // Four authenticated requests (a NIP-98 record each) and the insert, one at a time.
    assert!(value("passport_db_writes_total") >= 5.0);
    assert!(value("passport_db_write_batches_total{sync=\"normal\"}") >= 4.0);
    assert!(value("passport_db_commit_seconds_total{sync=\"full\"}") > 0.0);
    // The order of a sample's labels means nothing in the exposition format (the
    // encoder writes a bucket's `le` first), so this one is compared as a set.
    let bucket = sample(
        "passport_http_request_duration_seconds_bucket{route=\"/v1/ceremonies/{id}/packages\",le=\"+Inf\"} 2",
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("passport_") && sample(l) == bucket),
        "metrics lack {bucket:?}:\n{text}"
    );
    assert!(!text.contains(&id), "raw paths leaked into labels");
    // The body is OpenMetrics text (it ends with `# EOF`), and says so.
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

/// One sample line of the exposition format: its name, its labels as a set and its
/// value. (Label values here hold no `,` or `"`.)
fn sample(line: &str) -> (String, std::collections::BTreeSet<String>, String) {
    let (series, value) = line.rsplit_once(' ').expect("a value");
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}').expect("closed labels")),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    (name.to_owned(), labels, value.to_owned())
}

#[tokio::test]
async fn openapi_documents_exactly_the_served_routes() {
    let s = Server::new();
    let r = s.send("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut served: Vec<(String, String)> = serve::routes()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);
    // Each route is really served (not the JSON 404/405 fallback), and documents its
    // responses; authenticated ones document 401.
    for (method, path) in &served {
        let concrete = path.replace("{id}", "0123456789abcdef0123456789abcdef");
        let r = s.send(method, &concrete, None, None).await;
        assert!(
            r.status != StatusCode::METHOD_NOT_ALLOWED
                && !r.json["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("there is no"),
            "{method} {path} is not served: {}",
            r.text
        );
        let op = &doc["paths"][path][method.to_lowercase()];
        assert!(op["responses"].as_object().is_some_and(|m| !m.is_empty()));
        if path.starts_with("/v1/ceremonies") {
            assert!(
                op["responses"]["401"].is_object(),
                "{method} {path} lacks 401"
            );
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
    }
    let kinds = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"].clone();
    for k in [
        "unauthorized",
        "replayed",
        "not-a-member",
        "wrong-round",
        "rate-limited",
        "too-large",
    ] {
        assert!(kinds.as_array().expect("kinds").contains(&json!(k)), "{k}");
    }
}

/// `passport_ceremonies{state="open"}` from `/metrics`.
async fn open_ceremonies(s: &Server) -> u64 {
    let r = s.send("GET", "/metrics", None, None).await;
    r.text
        .lines()
        .find_map(|l| l.strip_prefix("passport_ceremonies{state=\"open\"} "))
        .and_then(|n| n.parse().ok())
        .expect("open ceremonies gauge")
}

/// Issue 10, point 6: the ceremony id is public (the `c` tag of every package), so an
/// outsider registered it first with a roster of its own (listing itself and the real
/// members' public npubs) and the real members got 409. Now each roster is its own
/// ceremony: the real one registers, runs, and never sees the outsider's packages, and
/// the real members' packages are refused by the outsider's ceremony.
#[tokio::test]
async fn an_outsider_registering_the_ceremony_id_first_locks_no_one_out() {
    let s = Server::new();
    let p = Party::new(false);
    let mallory = Keys::generate();
    let mut squat = p.roster.clone();
    squat.members[2] = Member {
        name: "carol".into(),
        npub: mallory.public_key(),
    };
    let body = squat.to_json_pretty();
    let first = s
        .call(
            "POST",
            "/v1/ceremonies",
            Some(&mallory),
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let squatted = first.json["id"].as_str().expect("id").to_owned();

    let real = s.create(&p, p.k(1)).await;
    assert_eq!(real.status, StatusCode::CREATED, "{}", real.text);
    assert_eq!(real.json["other_rosters"], 1, "{}", real.text);
    assert_eq!(real.json["roster_hash"], p.roster.hash_hex().as_str());
    let id = real.json["id"].as_str().expect("id").to_owned();
    assert_ne!(id, squatted);
    // Every member gets the real roster's ceremony.
    let again = s.create(&p, p.k(3)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["id"], id.as_str());

    // The real members post and fetch as usual.
    for seat in 1..=3 {
        let r = s.post(&id, p.k(seat), &dkg1(&p, seat)).await;
        assert_eq!(r.status, StatusCode::CREATED, "seat {seat}: {}", r.text);
    }
    let page = s.fetch(&id, p.k(2), "since=0").await;
    assert_eq!(seqs(&page).len(), 3, "{}", page.text);
    // Packages are bound to their roster's hash: the squatter's ceremony refuses them,
    // and the real one refuses the squatter's.
    s.post(&squatted, p.k(1), &dkg1(&p, 1)).await.error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong-ceremony",
        &["roster"],
    );
    let theirs = package(&mallory, &squat, Round::Dkg1, Some(3), None, None);
    s.post(&id, &mallory, &theirs)
        .await
        .error(StatusCode::FORBIDDEN, "not-a-member", &[]);
    assert_eq!(s.count(&id, p.k(1)).await, 3);
    assert_eq!(s.count(&squatted, &mallory).await, 0);
}

/// Issue 10, point 6: throwaway keys registered 1 MiB rosters (`purpose` had no limit).
/// A roster body is at most 64 KiB and a purpose at most 1024 bytes; refusals say so and
/// store nothing.
#[tokio::test]
async fn oversize_rosters_are_refused_and_store_nothing() {
    let s = Server::new();
    let p = Party::new(false);
    let mut fat = p.roster.clone();
    fat.purpose = "x".repeat(1 << 20);
    let body = serde_json::to_string(&fat).expect("json");
    s.call(
        "POST",
        "/v1/ceremonies",
        Some(p.k(1)),
        Some(body.as_bytes()),
    )
    .await
    .error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        &["65536 bytes", "roster"],
    );
    // Declared too large: refused before the body is read (and before auth).
    let r = s
        .send("POST", "/v1/ceremonies", None, Some(body.as_bytes()))
        .await;
    r.error(StatusCode::PAYLOAD_TOO_LARGE, "too-large", &["roster"]);

    fat.purpose = "x".repeat(1025);
    let body = fat.to_json_pretty();
    s.call(
        "POST",
        "/v1/ceremonies",
        Some(p.k(1)),
        Some(body.as_bytes()),
    )
    .await
    .error(
        StatusCode::BAD_REQUEST,
        "malformed",
        &["purpose is 1025 bytes", "at most 1024"],
    );
    assert_eq!(open_ceremonies(&s).await, 0);
    // At the limit it is fine.
    fat.purpose = "x".repeat(1024);
    let body = fat.to_json_pretty();
    let r = s
        .call(
            "POST",
            "/v1/ceremonies",
            Some(p.k(1)),
            Some(body.as_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(open_ceremonies(&s).await, 1);
}

/// New ceremonies per address are budgeted (throwaway keys are free, addresses less
/// so); registering an existing roster again costs nothing.
#[tokio::test]
async fn new_ceremonies_per_address_are_limited() {
    let s = Server::with(|c| c.new_ceremonies_per_ip_hour = 2);
    let parties: Vec<Party> = (0..3).map(|_| Party::new(false)).collect();
    for p in &parties[..2] {
        assert_eq!(s.create(p, p.k(1)).await.status, StatusCode::CREATED);
    }
    let r = s.create(&parties[2], parties[2].k(1)).await;
    r.error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        &["new ceremonies", "retry in"],
    );
    let retry: u64 = r.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry > 60, "one token per 30 min: {retry}");
    for seat in 1..=3 {
        let again = s.create(&parties[0], parties[0].k(seat)).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    }
    assert_eq!(open_ceremonies(&s).await, 2);
}

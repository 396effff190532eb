//! One NIP-46 request answered: parsed once into a [`Call`], checked against the
//! client's grant, handed to the backend. Every way it can fail is a [`Failure`], made
//! into the reply's error text only when the reply is built.

use std::time::Instant;

use nostr::{Event, JsonUtil, PublicKey};
use url::Url;

use super::backend;
use super::log::Seen;
use super::method::{Call, CallError, Method};
use super::nostrconnect::{ClientMeta, Perms};
use super::policy::{self, Refusal};
use super::rpc::Request;
use super::service::Bunker;
use crate::conversation;

/// Why a request gets an error reply.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Backend(#[from] backend::Error),
    #[error("internal error: {0}")]
    Db(#[from] crate::serve::Error),
    #[error("this bunker is {me}, not {named}")]
    NotThisBunker { me: String, named: String },
    #[error("the event's pubkey {given} is not this bunker's user key {ours}")]
    WrongPubkey { given: String, ours: String },
    #[error("{method}: {detail}")]
    Crypt { method: Method, detail: String },
    #[error("timed out after {0} s; the signers did not answer in time")]
    Timeout(u64),
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The grant asks the operator first ([`super::asking`]); never a reply's text.
    #[error("waits for the operator's approval")]
    Ask(Box<super::approval::New>),
    #[error("denied by the operator")]
    Denied,
    #[error("not approved by the operator within {0} s")]
    NotApproved(u64),
    #[error("too many requests of this client wait for the operator; retry later")]
    QueueFull,
}

fn now() -> u64 {
    super::unix_now()
}

impl Bunker {
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        Ok(self.db.call(f).await?)
    }

    /// One request → the reply's result, or why not; `seen` gets what its log line names.
    /// A request the grant asks the operator about is [`Failure::Ask`], unless `approved`.
    pub async fn answer(
        &self,
        from: PublicKey,
        req: &Request,
        seen: &Seen,
        approved: bool,
    ) -> Result<String, Failure> {
        let call = Call::parse(req);
        if let Ok(Call::Connect {
            signer,
            secret,
            perms,
            meta,
        }) = call
        {
            return self.connect(from, signer, secret, perms, meta).await;
        }
        // Parameter errors of a method are told only to clients allowed to call it.
        let (call, method) = match call {
            Ok(c) => {
                let m = c.method();
                (Ok(c), m)
            }
            Err(e) => match e.after_grant() {
                Some(m) => (Err(e), m),
                None => return Err(e.into()),
            },
        };
        let kind = match &call {
            Ok(Call::SignEvent(u)) => Some(u.kind),
            _ => None,
        };
        seen.kind(kind);
        let (client, at, id) = (from.to_hex(), now(), req.id.clone());
        // Counting commits relaxed, so the answer is worked out while it is made durable
        // (one fsync shared with concurrent requests); the answer waits for both.
        let (grant, counted) = self
            .db
            .relaxed(move |c| {
                let request = policy::RequestKey {
                    pubkey: &client,
                    id: &id,
                    keep_until: at + super::service::DEDUPE_FOR.as_secs(),
                };
                match approved {
                    false => policy::authorize(c, &request, method, kind, at),
                    true => policy::authorize_approved(c, &request, method, kind, at),
                }
            })
            .await?;
        let grant = match grant {
            Ok(g) => {
                self.budget.learn(from);
                g
            }
            Err(r) => {
                if r == Refusal::Unknown {
                    self.budget.forget(&from);
                }
                return Err(r.into());
            }
        };
        // The rate is taken when the request comes, not again once approved.
        if let (Some(per_min), false) = (grant.rate_per_min, approved) {
            if !method.rate_exempt() {
                self.rate.take(&from.to_hex(), per_min, Instant::now())?;
            }
        }
        seen.passed(&call);
        if let (Ok(c), false) = (&call, approved) {
            if grant.asks(method, kind) {
                return Err(Failure::Ask(Box::new(super::asking::queued(&from, c))));
            }
        }
        let durable = self.db.durable(counted);
        let (answer, durable) = tokio::join!(self.work(from, method, call?), durable);
        durable?;
        answer
    }

    /// What a request asks for, once its grant allows it.
    async fn work(&self, from: PublicKey, method: Method, call: Call) -> Result<String, Failure> {
        match call {
            Call::Connect {
                signer,
                secret,
                perms,
                meta,
            } => self.connect(from, signer, secret, perms, meta).await,
            Call::Ping => Ok("pong".into()),
            Call::GetPublicKey => Ok(self.group.public_key().to_hex()),
            Call::SwitchRelays => Ok(serde_json::to_string(
                &self.relays.iter().map(Url::as_str).collect::<Vec<_>>(),
            )
            .expect("strings serialize")),
            Call::Logout => {
                let c = from.to_hex();
                self.db(move |conn| policy::revoke(conn, &c)).await?;
                self.budget.forget(&from);
                Ok("ack".into())
            }
            Call::SignEvent(u) => {
                let ours = self.group.public_key().to_hex();
                if let Some(given) = u.pubkey.as_ref().filter(|p| !p.is_empty()) {
                    if *given != ours {
                        return Err(Failure::WrongPubkey {
                            given: given.clone(),
                            ours,
                        });
                    }
                }
                let unsigned = u
                    .unsigned(&self.group.public_key(), nostr::Timestamp::from(now()))
                    .map_err(super::backend::Error::signer)?;
                let ev: Event = self.backend.sign(unsigned).await?;
                Ok(ev.as_json())
            }
            Call::Nip44Encrypt { peer, text } => {
                let shared = self.backend.ecdh(peer, method).await?;
                crypt(method, conversation::nip44_encrypt(&shared, &text))
            }
            Call::Nip44Decrypt { peer, text } => {
                let shared = self.backend.ecdh(peer, method).await?;
                crypt(method, conversation::nip44_decrypt(&shared, &text))
            }
            Call::Nip04Encrypt { peer, text } => {
                let shared = self.backend.ecdh(peer, method).await?;
                crypt(method, conversation::nip04_encrypt(&shared, &text))
            }
            Call::Nip04Decrypt { peer, text } => {
                let shared = self.backend.ecdh(peer, method).await?;
                crypt(method, conversation::nip04_decrypt(&shared, &text))
            }
        }
    }

    /// `connect`: the first parameter names the signer (some clients send it empty);
    /// a known client is acknowledged, a new one needs a valid secret. What the client
    /// says about itself is kept once it is connected (a hint; nothing reads it to decide).
    async fn connect(
        &self,
        from: PublicKey,
        signer: Option<String>,
        secret: Option<String>,
        perms: Option<Perms>,
        meta: Option<ClientMeta>,
    ) -> Result<String, Failure> {
        let me = self.transport.public_key().to_hex();
        if let Some(named) = signer.filter(|p| !p.is_empty()) {
            if named != me {
                return Err(Failure::NotThisBunker { me, named });
            }
        }
        let (client, at) = (from.to_hex(), now());
        match self
            .db(move |c| {
                let asked = perms.map(|p| p.grant().grant);
                let r = policy::connect(c, &client, secret.as_deref(), asked.as_ref(), at)?;
                if let (Ok(()), Some(m)) = (&r, &meta) {
                    super::store::set_client_meta(c, &client, m)?;
                }
                Ok(r)
            })
            .await?
        {
            Ok(()) => {
                self.budget.learn(from);
                Ok("ack".into())
            }
            Err(r) => Err(r.into()),
        }
    }
}

fn crypt<E: std::fmt::Display>(method: Method, r: Result<String, E>) -> Result<String, Failure> {
    r.map_err(|e| Failure::Crypt {
        method,
        detail: e.to_string(),
    })
}

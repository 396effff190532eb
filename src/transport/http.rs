//! The `passport serve` client: NIP-98 authenticated JSON over HTTP, long-poll for news.
//!
//! The server is not trusted to be sane: answers are read as a stream and cut at a size
//! no passport serve sends, and paging stops when the cursor does not move. Deadlines
//! are the caller's (see [`super::Via`]).

use std::time::Duration;

use base64::Engine;
use nostr::hashes::sha256::Hash as Sha256Hash;
use nostr::hashes::Hash;
use nostr::nips::nip98::{HttpData, HttpMethod};
use nostr::{Event, EventBuilder, JsonUtil, Keys};
use serde::Deserialize;
use url::Url;

use super::{Delivery, ViaError};
use crate::ceremony::Roster;
use crate::envelope::MAX_PACKAGE_BYTES;

/// How long one long-poll may hang on the server; the server caps it too.
pub(super) const MAX_POLL: Duration = Duration::from_secs(25);
/// Largest package page read: serve sends at most 16 MiB of events per page, or one
/// package (at most [`MAX_PACKAGE_BYTES`]) when that alone is larger, plus framing.
pub(super) const MAX_PAGE_BYTES: usize = (16 << 20) + MAX_PACKAGE_BYTES + (1 << 20);
/// Largest other answer read (a ceremony id, a delivery receipt, an error).
pub(super) const MAX_ANSWER_BYTES: usize = 1 << 20;

pub struct Client {
    http: reqwest::Client,
    keys: Keys,
    base: Url,
    /// The server's id for this ceremony.
    id: String,
    cursor: u64,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct Posted {
    #[serde(default)]
    duplicate: bool,
}

#[derive(Deserialize)]
struct Page {
    packages: Vec<Item>,
    cursor: u64,
    /// Whether the page was cut short (an older serve does not say: then ask again).
    #[serde(default)]
    more: Option<bool>,
}

#[derive(Deserialize)]
struct Item {
    event: Event,
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
    message: String,
}

impl Client {
    /// Registers the roster (idempotent: every member gets the same ceremony id).
    pub async fn open(base: &Url, keys: &Keys, roster: &Roster) -> Result<Client, ViaError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ViaError::Unreachable {
                url: base.to_string(),
                detail: e.to_string(),
            })?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut c = Client {
            http,
            keys: keys.clone(),
            base,
            id: String::new(),
            cursor: 0,
        };
        let url = c.url("v1/ceremonies")?;
        let body = roster.to_json_pretty().into_bytes();
        let created: Created = c
            .send(
                HttpMethod::POST,
                url,
                Some(body),
                "roster",
                MAX_ANSWER_BYTES,
            )
            .await?;
        c.id = created.id;
        Ok(c)
    }

    fn url(&self, rel: &str) -> Result<Url, ViaError> {
        self.base.join(rel).map_err(|e| ViaError::BadAnswer {
            url: self.base.to_string(),
            detail: e.to_string(),
        })
    }

    fn auth(&self, url: &Url, method: HttpMethod, body: Option<&[u8]>) -> String {
        let mut data = HttpData::new(url.clone(), method);
        if let Some(b) = body {
            data = data.payload(Sha256Hash::hash(b));
        }
        let ev = EventBuilder::http_auth(data)
            .sign_with_keys(&self.keys)
            .expect("signing with a local key cannot fail");
        format!(
            "Nostr {}",
            base64::engine::general_purpose::STANDARD.encode(ev.as_json())
        )
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: HttpMethod,
        url: Url,
        body: Option<Vec<u8>>,
        what: &str,
        limit: usize,
    ) -> Result<T, ViaError> {
        // Rate limits answer 429 with Retry-After: honour it a few times before giving up.
        let mut attempt = 0;
        loop {
            let auth = self.auth(&url, method, body.as_deref());
            let req = match method {
                HttpMethod::POST => self
                    .http
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .body(body.clone().unwrap_or_default()),
                _ => self.http.get(url.clone()),
            };
            let resp = req
                .header("authorization", auth)
                .timeout(MAX_POLL + Duration::from_secs(15))
                .send()
                .await
                .map_err(|e| ViaError::Unreachable {
                    url: self.base.to_string(),
                    detail: e.to_string(),
                })?;
            let status = resp.status().as_u16();
            if status == 429 && attempt < 4 {
                attempt += 1;
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let bytes = self.read_limited(resp, what, limit).await?;
            if (200..300).contains(&status) {
                return serde_json::from_slice(&bytes).map_err(|e| ViaError::BadAnswer {
                    url: url.to_string(),
                    detail: e.to_string(),
                });
            }
            let (kind, message) = match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(e) => (e.error, e.message),
                Err(_) => (
                    "error".into(),
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                ),
            };
            return Err(ViaError::Refused {
                url: self.base.to_string(),
                what: what.to_owned(),
                status,
                kind,
                message,
            });
        }
    }

    /// The body, read chunk by chunk and abandoned past `limit` bytes, so an endless or
    /// huge answer costs at most `limit` of memory.
    async fn read_limited(
        &self,
        mut resp: reqwest::Response,
        what: &str,
        limit: usize,
    ) -> Result<Vec<u8>, ViaError> {
        let too_large = || ViaError::TooLarge {
            url: self.base.to_string(),
            what: what.to_owned(),
            limit,
        };
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| ViaError::Unreachable {
            url: self.base.to_string(),
            detail: e.to_string(),
        })? {
            if out.len() + chunk.len() > limit {
                return Err(too_large());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    pub async fn post(&mut self, event: &Event) -> Result<Delivery, ViaError> {
        let url = self.url(&format!("v1/ceremonies/{}/packages", self.id))?;
        let p: Posted = self
            .send(
                HttpMethod::POST,
                url,
                Some(event.as_json().into_bytes()),
                "package",
                MAX_ANSWER_BYTES,
            )
            .await?;
        Ok(Delivery {
            id: event.id,
            duplicate: p.duplicate,
            missed: vec![],
        })
    }

    /// Every package after the cursor, paging through, each page handed to `sink` as it
    /// arrives; long-polls once when `wait` > 0 and nothing is new.
    pub async fn fetch(
        &mut self,
        wait: Duration,
        sink: &mut dyn FnMut(Vec<Event>),
    ) -> Result<(), ViaError> {
        let mut wait = wait.min(MAX_POLL);
        loop {
            let mut url = self.url(&format!("v1/ceremonies/{}/packages", self.id))?;
            url.query_pairs_mut()
                .append_pair("since", &self.cursor.to_string())
                .append_pair("wait", &wait.as_secs().to_string());
            let page: Page = self
                .send(HttpMethod::GET, url, None, "fetch", MAX_PAGE_BYTES)
                .await?;
            if page.packages.is_empty() {
                return Ok(());
            }
            // Packages come with a cursor past them; one that stands still would have us
            // fetch the same page forever.
            if page.cursor <= self.cursor {
                return Err(ViaError::StuckCursor {
                    url: self.base.to_string(),
                    cursor: self.cursor,
                });
            }
            self.cursor = page.cursor;
            let more = page.more != Some(false);
            sink(page.packages.into_iter().map(|i| i.event).collect());
            if !more {
                return Ok(());
            }
            // A page cut short: drain the rest without waiting.
            wait = Duration::ZERO;
        }
    }
}

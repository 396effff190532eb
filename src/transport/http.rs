//! The `passport serve` client: NIP-98 authenticated JSON over HTTP, long-poll for news.

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

/// How long one long-poll may hang on the server; the server caps it too.
const MAX_POLL: Duration = Duration::from_secs(25);

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
        let created: Created = c.send(HttpMethod::POST, url, Some(body), "roster").await?;
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
            let bytes = resp.bytes().await.map_err(|e| ViaError::Unreachable {
                url: self.base.to_string(),
                detail: e.to_string(),
            })?;
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

    pub async fn post(&mut self, event: &Event) -> Result<Delivery, ViaError> {
        let url = self.url(&format!("v1/ceremonies/{}/packages", self.id))?;
        let p: Posted = self
            .send(
                HttpMethod::POST,
                url,
                Some(event.as_json().into_bytes()),
                "package",
            )
            .await?;
        Ok(Delivery {
            id: event.id,
            duplicate: p.duplicate,
        })
    }

    /// Every package after the cursor, paging through; long-polls once when `wait` > 0
    /// and nothing is new.
    pub async fn fetch(&mut self, wait: Duration) -> Result<Vec<Event>, ViaError> {
        let mut out = vec![];
        let mut wait = wait.min(MAX_POLL);
        loop {
            let mut url = self.url(&format!("v1/ceremonies/{}/packages", self.id))?;
            url.query_pairs_mut()
                .append_pair("since", &self.cursor.to_string())
                .append_pair("wait", &wait.as_secs().to_string());
            let page: Page = self.send(HttpMethod::GET, url, None, "fetch").await?;
            let n = page.packages.len();
            self.cursor = self.cursor.max(page.cursor);
            out.extend(page.packages.into_iter().map(|i| i.event));
            if n == 0 {
                return Ok(out);
            }
            // Something arrived: drain the rest without waiting.
            wait = Duration::ZERO;
        }
    }
}

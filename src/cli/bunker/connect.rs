//! `passport bunker connect URI`: answer a client's `nostrconnect://` URI. The grant is
//! the operator's flags (`--methods`/`--kinds`), or else what the client's `perms` ask
//! for, accepted at a prompt or with `--accept-perms`. What the client says about itself
//! (name, url, image) is shown and kept as a hint, escaped, never trusted.

use serde::Serialize;

use super::{runtime, with_db, ConnectArgs};
use crate::bunker::nostrconnect::{ClientMeta, ClientUri, Proposal};
use crate::bunker::{self, policy};
use crate::cli::{Cli, Output};
use crate::error::{OperatorError, Result};
use crate::ops::Report;
use crate::untrusted;

#[derive(Serialize)]
struct Connected {
    client: String,
    action: &'static str,
    grant: policy::Grant,
    /// "perms": the client's request, accepted; "flags": the operator's own grant.
    grant_from: &'static str,
    /// The client's perms as it wrote them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    asked: Vec<String>,
    /// Methods in the perms this bunker does not answer, so not granted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    not_granted: Vec<String>,
    /// What the client says about itself (as `meta` in `bunker clients list`).
    #[serde(skip_serializing_if = "ClientMeta::is_empty")]
    meta: ClientMeta,
    relays: Vec<String>,
}

impl Report for Connected {
    fn human(&self) -> String {
        let mut s = format!("{} {}", self.action, self.client);
        if !self.meta.is_empty() {
            s.push_str(&format!("\n  client says: {}", says(&self.meta)));
        }
        s.push_str(&format!("\n  grant: {}", describe(&self.grant)));
        if !self.not_granted.is_empty() {
            s.push_str(&format!(
                "\n  not granted (this bunker does not answer them): {}",
                shown_list(&self.not_granted)
            ));
        }
        s
    }
}

/// A grant in one line, as the operator reads it back.
fn describe(g: &policy::Grant) -> String {
    let list = |v: Vec<String>| v.join(",");
    format!(
        "methods: {}  kinds: {}  uses: {}  rate: {}  expires: {}",
        g.methods.as_ref().map_or("all".into(), |m| list(
            m.iter().map(|m| m.as_str().to_owned()).collect()
        )),
        g.kinds.as_ref().map_or("any".into(), |k| list(
            k.iter().map(u16::to_string).collect()
        )),
        g.max_uses.map_or("unlimited".into(), |m| m.to_string()),
        g.rate_per_min
            .map_or("unlimited".into(), |r| format!("{r}/min")),
        g.expires_at.map_or("never".into(), |e| e.to_string()),
    )
}

fn shown_list(v: &[String]) -> String {
    v.iter()
        .map(|s| untrusted::quoted(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a client says about itself, escaped for the terminal and marked as its claim.
pub(super) fn says(m: &ClientMeta) -> String {
    let mut parts = vec![];
    if let Some(n) = &m.name {
        parts.push(format!("name {}", untrusted::quoted(n)));
    }
    if let Some(u) = &m.url {
        parts.push(format!("url {}", untrusted::quoted(u)));
    }
    if let Some(i) = &m.image {
        parts.push(format!("image {}", untrusted::quoted(i)));
    }
    format!("{} (unverified)", parts.join(", "))
}

/// The question shown before a client's perms become its grant.
fn question(client: &str, uri: &ClientUri, asked: &[String], p: &Proposal) -> String {
    let mut s = format!("client {client}");
    if !uri.meta.is_empty() {
        s.push_str(&format!("\n  says: {}", says(&uri.meta)));
    }
    s.push_str(&format!(
        "\n  asks for: {}",
        if asked.is_empty() {
            "no particular permissions (so: everything)".into()
        } else {
            shown_list(asked)
        }
    ));
    if !p.ignored.is_empty() {
        s.push_str(&format!(
            "\n  not granted (this bunker does not answer them): {}",
            shown_list(&p.ignored)
        ));
    }
    s.push_str(&format!("\n  grant: {}", describe(&p.grant)));
    s
}

pub(super) fn run(cli: &Cli, a: &ConnectArgs, out: &Output, now: u64) -> Result<()> {
    let uri = ClientUri::parse(&a.uri).map_err(OperatorError::NotNostrConnect)?;
    let client = bunker::npub(&uri.client);
    let asked: Vec<String> = uri
        .perms
        .iter()
        .flat_map(|p| p.0.iter().map(ToString::to_string))
        .collect();
    // --expires, --max-uses and --rate bound either grant.
    let mut grant = a.grant.grant()?;
    let operator_decides = a.grant.methods.is_some() || a.grant.kinds.is_some();
    let mut not_granted = vec![];
    if !operator_decides {
        let mut p = uri.perms.clone().unwrap_or_default().grant();
        (p.grant.expires_at, p.grant.max_uses, p.grant.rate_per_min) =
            (grant.expires_at, grant.max_uses, grant.rate_per_min);
        p.grant.ask = grant.ask.clone();
        if !a.accept_perms {
            let shown = question(&client, &uri, &asked, &p);
            if !super::super::prompt::accept(&shown, "Grant this to the client?")
                .ok_or(OperatorError::NoPermsTerminal)?
            {
                return Err(OperatorError::PermsDeclined.into());
            }
        }
        grant = p.grant;
        not_granted = p.ignored;
    }
    let home = cli.open_home()?;
    let transport = bunker::transport_keys(&home)?;
    let (g, hex, label, meta) = (
        grant.clone(),
        uri.client.to_hex(),
        a.label.clone(),
        uri.meta.clone(),
    );
    with_db(cli, &a.db, move |c| {
        policy::allow(c, &hex, &g, now, label.as_deref())?;
        bunker::store::set_client_meta(c, &hex, &meta)
    })?;
    let reply = bunker::rpc::connect_response(&transport, &uri.client, uri.secret.as_deref())
        .map_err(OperatorError::ConnectReply)?;
    let relays: Vec<String> = uri.relays.iter().map(|r| r.to_string()).collect();
    runtime()?.block_on(async {
        let client = crate::transport::sdk_builder()
            .signer(transport.clone())
            .build();
        for r in &uri.relays {
            client
                .add_relay(r)
                .await
                .map_err(|source| OperatorError::Relay {
                    relay: r.to_string(),
                    source,
                })?;
        }
        client.connect().await;
        let sent =
            client
                .send_event(&reply)
                .await
                .map_err(|source| OperatorError::Unreachable {
                    relays: relays.clone(),
                    source,
                })?;
        client.shutdown().await;
        if sent.success.is_empty() {
            return Err(OperatorError::ReplyNotAccepted {
                relays: relays.clone(),
            });
        }
        Ok::<_, OperatorError>(())
    })?;
    out.report(&Connected {
        client,
        action: "connected and allowed",
        grant,
        grant_from: if operator_decides { "flags" } else { "perms" },
        asked,
        not_granted,
        meta: uri.meta,
        relays,
    })
}

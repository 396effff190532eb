//! A home's own files: config, token blobs, coordinator claims, attestation statements,
//! the audit log and the backup record.

use std::path::Path;

use serde_json::{json, Value};

use super::Inspection;
use crate::error::{Result, SignError};
use crate::hsm::attest::SignedStatement;
use crate::untrusted;

/// Files of JSON lines: `audit.jsonl` and `backups.jsonl`.
pub(super) fn lines(path: &Path, name: &str, bytes: &[u8]) -> Result<Option<Inspection>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) if t.lines().filter(|l| !l.trim().is_empty()).count() >= 1 => t,
        _ => return Ok(None),
    };
    let rows: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map_while(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let audit =
        first.get("seq").is_some() && first.get("prev").is_some() && first.get("hash").is_some();
    let backups = first.get("verifying_share").is_some() && first.get("file").is_some();
    if !audit && !backups {
        return Ok(None);
    }
    let all = text.lines().filter(|l| !l.trim().is_empty()).count();
    if audit {
        return Ok(Some(audit_log(path, name, &rows, all)));
    }
    Ok(Some(backup_record(name, &rows, all)))
}

fn audit_log(path: &Path, name: &str, rows: &[Value], all: usize) -> Inspection {
    let mut i = Inspection::new("audit log (hash-chained)", name);
    i.field("entries", "entries", all);
    let first = rows.first().and_then(|r| r["time"].as_str()).unwrap_or("?");
    let last = rows.last().and_then(|r| r["time"].as_str()).unwrap_or("?");
    i.field("first", "first entry", first)
        .field("last", "last entry", last);
    let mut ops: Vec<(String, usize)> = vec![];
    for r in rows {
        let op = r["op"].as_str().unwrap_or("?").to_owned();
        match ops.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => ops.push((op, 1)),
        }
    }
    let items = ops
        .iter()
        .map(|(o, n)| format!("{n:>5}  {}", untrusted::line(o)))
        .collect();
    let json_ops: serde_json::Map<String, Value> =
        ops.iter().map(|(o, n)| (o.clone(), json!(n))).collect();
    i.list("operations", "operations", Value::Object(json_ops), items);
    if path.as_os_str() == "-" {
        i.put("chain", Value::Null);
        i.note("the hash chain was not checked (read from stdin): `passport audit verify` checks a home's log");
    } else {
        match crate::audit::AuditLog::new(path.to_path_buf()).verify() {
            Ok(r) => {
                i.put("chain", "valid");
                i.show_safe("hash chain", format!("valid ({} entries)", r.entries));
            }
            Err(e) => {
                i.put("chain", e.to_string());
                i.show("hash chain", &format!("BROKEN: {e}"));
            }
        }
    }
    i
}

fn backup_record(name: &str, rows: &[Value], all: usize) -> Inspection {
    let mut i = Inspection::new("backup record (backups this home made)", name);
    i.field("backups", "backups", all);
    let items = rows
        .iter()
        .map(|r| {
            let when = r["created_at"]
                .as_u64()
                .map(crate::clock::date)
                .unwrap_or_default();
            untrusted::line(&format!(
                "{}  {} (seat {})  {}  {}",
                when,
                r["member"].as_str().unwrap_or("?"),
                r["seat"],
                r["group"].as_str().map(short).unwrap_or("?"),
                r["file"].as_str().unwrap_or("?"),
            ))
        })
        .collect();
    i.list("entries", "made", Value::Array(rows.to_vec()), items);
    i.note("`passport doctor` says which of them are stale after a refresh and whether the files are still there");
    i
}

fn short(s: &str) -> &str {
    s.get(..16).unwrap_or(s)
}

/// Single JSON objects of a home: config, token blob, claim record, attestation.
pub(super) fn json(path: &Path, name: &str, bytes: &[u8], v: &Value) -> Result<Option<Inspection>> {
    if v.get("keystore").is_some() && v.get("npub").is_some() {
        let mut i = Inspection::new("passport home config", name);
        i.field("npub", "identity", v["npub"].clone());
        let ks = &v["keystore"];
        i.put("keystore", ks["unlock"].clone());
        let how = match ks["unlock"].as_str() {
            Some("passphrase") => "passphrase (scrypt, keystore/master.age)".to_owned(),
            Some("identity-file") => format!(
                "age identity file {}",
                untrusted::line(ks["path"].as_str().unwrap_or("?"))
            ),
            Some("pkcs11") => format!(
                "PKCS#11 token {} (serial {})",
                untrusted::line(ks["uri"].as_str().unwrap_or("?")),
                untrusted::line(ks["token_serial"].as_str().unwrap_or("?"))
            ),
            other => untrusted::line(other.unwrap_or("?")),
        };
        i.show_safe("keystore", how);
        if let Some(m) = ks["module"].as_str() {
            i.field("module", "module", m);
        }
        if let Some(s) = ks["scheme"].as_str() {
            i.field("scheme", "seal scheme", s);
        }
        if let Some(r) = ks["recipient"].as_str() {
            i.field("recipient", "keystore recipient", r);
        }
        i.note("`passport doctor` checks the whole home");
        return Ok(Some(i));
    }
    if let Some((version, scheme)) = crate::hsm::seal::blob_format(bytes) {
        let mut i = super::backup::sealed(path, name, bytes, "token");
        i.put("format", version);
        i.show_safe("format", format!("v{version}"));
        if let Some(s) = scheme {
            i.field("scheme", "scheme", s.name());
        }
        if let Some(t) = v["token"].as_str() {
            i.field("token", "sealed by token", t);
        }
        if let Some(o) = v["once"].as_str() {
            i.field("once", "one-time token object", o);
        }
        return Ok(Some(i));
    }
    if v.get("statement").is_some() && v.get("signature").is_some() {
        return attestation(name, bytes).map(Some);
    }
    if v.get("commitment").is_some() && v.get("request").is_some() && v.get("seat").is_some() {
        let mut i = Inspection::new(
            "coordinator claim (a commitment this home handed out)",
            name,
        );
        // `<home>/sign/<gid>/used/<claim>`: the group file names the seat.
        let group = path.parent().and_then(Path::parent).and_then(|g| {
            let home = g.parent()?.parent()?;
            let file = home.join("groups").join(g.file_name()?).join("group.json");
            crate::home::read_group_file(&file).ok()
        });
        let seat = v["seat"].as_u64().unwrap_or(0);
        i.put("seat", seat);
        match &group {
            Some(g) => {
                i.field("group", "group", g.npub.as_str());
                i.show("seat", &format!("{seat} ({})", g.roster.name(seat as u16)));
            }
            None => {
                i.show_safe("seat", seat.to_string());
            }
        }
        i.field("commitment", "commitment", v["commitment"].clone())
            .field("request", "in request", v["request"].clone());
        i.note("sign request never uses this commitment again");
        return Ok(Some(i));
    }
    Ok(None)
}

fn attestation(name: &str, bytes: &[u8]) -> Result<Inspection> {
    let bad = |e: &dyn std::fmt::Display| SignError::NotAStatement {
        name: name.into(),
        reason: e.to_string(),
    };
    let signed: SignedStatement = serde_json::from_slice(bytes).map_err(|e| bad(&e))?;
    let s = &signed.statement;
    // The signatures are checked against the statement's own challenge: that proves it is
    // intact and bound to the member, not that it is fresh.
    crate::hsm::attest::verify(bytes, &s.challenge, None, None).map_err(|e| bad(&e))?;
    let mut i = Inspection::new("HSM attestation statement", name);
    i.field("member", "member", s.member.npub.as_str());
    i.field("assurance", "assurance", s.assurance.as_str());
    i.field("time", "made at", s.time.as_str());
    i.field("challenge", "challenge", s.challenge.as_str());
    i.put("token", json!(s.token));
    i.show(
        "token",
        &format!(
            "{} (serial {}), {} {}, firmware {}",
            s.token.label, s.token.serial, s.token.manufacturer, s.token.model, s.token.firmware
        ),
    );
    i.field("token_uri", "token uri", s.token.uri.as_str());
    i.show(
        "module",
        &format!(
            "{} ({} {})",
            s.library.info.module_path, s.library.info.manufacturer, s.library.info.version
        ),
    );
    i.put("module_sha256", s.library.module_sha256.as_str());
    let scheme = s
        .seal_key
        .scheme
        .clone()
        .unwrap_or_else(|| "on-token AES-GCM (format v1)".into());
    i.put("scheme", scheme.as_str());
    let keys = vec![
        untrusted::line(&format!(
            "seal key         id {}  {}  {scheme}",
            s.seal_key.id, s.seal_key.label
        )),
        untrusted::line(&format!(
            "attestation key  id {}  {}  P-256",
            s.attestation_key.report.id, s.attestation_key.report.label
        )),
    ];
    i.list(
        "keys",
        "keys",
        json!({ "seal": s.seal_key.id, "attestation": s.attestation_key.report.id }),
        keys,
    );
    let shares = s
        .shares
        .iter()
        .map(|p| untrusted::line(&format!("{} (seat {}) of {}", p.member, p.seat, p.group)))
        .collect();
    i.list("shares", "protects", json!(s.shares), shares);
    i.show_safe(
        "audit log",
        format!(
            "{} entries, head {}",
            s.audit.entries,
            untrusted::line(short(&s.audit.head))
        ),
    );
    i.put("audit_entries", s.audit.entries);
    i.field(
        "signatures",
        "signatures",
        "intact (P-256 by the attestation key, BIP-340 binding by the member)",
    );
    i.note("not checked: that it answers YOUR challenge (freshness). `passport hsm verify-attestation FILE --challenge HEX` verifies it");
    Ok(i)
}

//! Rosters, group files, deal records and the public state files of a home.

use std::path::Path;

use nostr::ToBech32;
use serde_json::{json, Value};

use super::{seat_table, Inspection};
use crate::ceremony::Roster;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::untrusted;

fn bech(pk: &nostr::PublicKey) -> String {
    pk.to_bech32().expect("bech32")
}

/// The roster's facts, in the order members compare them.
pub(super) fn roster_rows(i: &mut Inspection, r: &Roster) {
    i.field("ceremony", "ceremony", r.ceremony_id.as_str());
    if r.purpose.is_empty() {
        i.put("purpose", "");
        i.show_safe("purpose", "⟨none⟩".into());
    } else {
        i.field("purpose", "purpose", r.purpose.as_str());
    }
    i.put("threshold", r.threshold);
    i.put("n", r.n());
    i.show_safe(
        "threshold",
        format!("{} of {} signatures", r.threshold, r.n()),
    );
    match &r.dealer {
        Some(d) => i.field("dealer", "dealer", bech(d)),
        None => i
            .put("dealer", Value::Null)
            .show_safe("dealer", "none (DKG)".into()),
    };
    let seats: Vec<Value> = r
        .ids()
        .map(|s| {
            let m = r.member(s).expect("ids are seats");
            json!({ "seat": s, "name": m.name, "npub": bech(&m.npub) })
        })
        .collect();
    let rows: Vec<(String, String, String)> = r
        .ids()
        .map(|s| {
            let m = r.member(s).expect("ids are seats");
            (s.to_string(), untrusted::line(&m.name), bech(&m.npub))
        })
        .collect();
    // `members` keeps its old shape ("NAME NPUB" strings) for scripts.
    i.put(
        "members",
        r.members
            .iter()
            .map(|m| format!("{} {}", m.name, bech(&m.npub)))
            .collect::<Vec<_>>(),
    );
    i.list("seats", "seats", Value::Array(seats), seat_table(&rows));
    i.field("fingerprint", "fingerprint", r.fingerprint());
}

pub(super) fn json(path: &Path, name: &str, bytes: &[u8], v: &Value) -> Result<Option<Inspection>> {
    let _ = path;
    if v.get("public_key_package").is_some() {
        let g = Group::from_json(bytes).map_err(|e| Error::Malformed {
            path: name.to_owned(),
            what: "group file",
            detail: e.to_string(),
        })?;
        return Ok(Some(group(name, &g)));
    }
    if v.get("ceremony_id").is_some() && v.get("members").is_some() {
        let r = Roster::from_json(bytes).map_err(|e| Error::Malformed {
            path: name.to_owned(),
            what: "roster",
            detail: e.to_string(),
        })?;
        let mut i = Inspection::new("roster", name);
        roster_rows(&mut i, &r);
        i.note("compare the fingerprint and every npub with each member out of band");
        return Ok(Some(i));
    }
    // `<home>/dealt/<ceremony>.json`: this home dealt that roster (never again).
    if v.get("roster_fingerprint").is_some() && v.get("ceremony_id").is_some() {
        let mut i = Inspection::new("deal record (this home dealt the roster)", name);
        i.field("group", "group", v["group"].clone())
            .field("ceremony", "ceremony", v["ceremony_id"].clone())
            .field(
                "roster_fingerprint",
                "roster fingerprint",
                v["roster_fingerprint"].clone(),
            )
            .note("keygen deal refuses to deal this roster again: write a new roster to deal another key");
        return Ok(Some(i));
    }
    // `<home>/groups/<gid>/state.json`.
    if v.get("status").is_some()
        && v.get("seats").is_some()
        && v.as_object().is_some_and(|o| o.len() == 2)
    {
        return Ok(Some(group_state(path, name, v)));
    }
    if v.get("stage").is_some() && v.get("roster").is_some() && v.get("seat").is_some() {
        return Ok(Some(round_state(name, v)));
    }
    if v.get("lost").is_some() && v.get("helpers").is_some() && v.get("roster").is_some() {
        return Ok(Some(repair_state(name, v)));
    }
    Ok(None)
}

fn group(name: &str, g: &Group) -> Inspection {
    let mut i = Inspection::new("group file (public)", name);
    i.field("group", "group", g.npub.as_str());
    i.put("origin", serde_json::to_value(g.origin).expect("origin"));
    i.show_safe(
        "origin",
        match g.origin {
            crate::group::Origin::Dealer => "trusted dealer".into(),
            crate::group::Origin::Dkg => "distributed key generation (DKG)".into(),
        },
    );
    roster_rows(&mut i, &g.roster);
    if !g.left.is_empty() {
        let names: Vec<String> = g.left.iter().map(|&s| g.roster.name(s)).collect();
        i.put("left", serde_json::json!(names));
        i.show(
            "left",
            &format!("{} (at a refresh: no share any more)", names.join(", ")),
        );
    }
    if let Ok(f) = super::super::refresh::package_fingerprint(g) {
        i.field("key_package_fingerprint", "key package fingerprint", f);
    }
    i.note("import it with `passport group import FILE` to coordinate signing without a share");
    i
}

/// The roster of the group a state file in `<home>/groups/<gid>/` belongs to.
fn sibling_group(path: &Path) -> Option<Group> {
    let g = path.parent()?.join("group.json");
    let bytes = crate::fsutil::read_limited(&g, crate::envelope::MAX_PACKAGE_BYTES as u64).ok()?;
    Group::from_json(&bytes).ok()
}

fn group_state(path: &Path, name: &str, v: &Value) -> Inspection {
    let mut i = Inspection::new("group state (this home's seats in a group)", name);
    let group = sibling_group(path);
    if let Some(g) = &group {
        i.field("group", "group", g.npub.as_str());
    }
    i.field("status", "status", v["status"].clone());
    let seats: Vec<u64> = v["seats"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let items = seats
        .iter()
        .map(|&s| match &group {
            Some(g) => format!("seat {s} ({})", untrusted::line(&g.roster.name(s as u16))),
            None => format!("seat {s}"),
        })
        .collect();
    i.list("seats", "seats held here", json!(seats), items);
    if group.is_none() {
        i.note("(no group.json beside it: seats shown without names)");
    }
    i
}

/// `dkg/<ceremony>/<seat>.json` and `refresh/<gid>/<id>.<seat>.json`: a member's progress.
fn round_state(name: &str, v: &Value) -> Inspection {
    let refresh = v.get("round1_sent").is_some() && v.get("group").is_some_and(Value::is_object);
    let kind = if refresh {
        "refresh progress of one seat (public; secrets are in the keystore)"
    } else {
        "DKG progress of one seat (public; secrets are in the keystore)"
    };
    let mut i = Inspection::new(kind, name);
    let roster: Option<Roster> = serde_json::from_value(v["roster"].clone()).ok();
    let seat = v["seat"].as_u64().unwrap_or(0) as u16;
    if let Some(g) = v.get("group").and_then(|g| g.get("npub")) {
        i.field("group", "group", g.clone());
    } else if let Some(g) = v.get("group").filter(|g| g.is_string()) {
        i.field("group", "group", g.clone());
    }
    if let Some(r) = &roster {
        i.field("ceremony", "ceremony", r.ceremony_id.as_str());
        i.put("seat", seat);
        i.field("member", "member", r.name(seat));
        i.show_safe("seat", seat.to_string());
    }
    i.field("stage", "stage", v["stage"].clone());
    let received = v["round1_received"].as_object().map_or(0, |m| m.len());
    i.put("round1_received", received);
    if let Some(r) = &roster {
        i.show_safe(
            "round 1 packages",
            format!("{received} of {} others received", r.n().saturating_sub(1)),
        );
    }
    let done = v["stage"].as_str() == Some(if refresh { "finished" } else { "confirmed" });
    i.put("done", done);
    if !done {
        i.note(if refresh {
            "unfinished: run the next `passport refresh` step, or remove it if the refresh was abandoned"
        } else {
            "unfinished: run the next `passport dkg` step (round2, finish, confirm)"
        });
    }
    i
}

fn repair_state(name: &str, v: &Value) -> Inspection {
    let mut i = Inspection::new("repair progress of one helper (public)", name);
    let roster: Option<Roster> = serde_json::from_value(v["roster"].clone()).ok();
    let who = |s: u64| match &roster {
        Some(r) => format!("{} (seat {s})", r.name(s as u16)),
        None => format!("seat {s}"),
    };
    i.field("group", "group", v["group"].clone());
    if let Some(s) = v["lost"].as_u64() {
        i.put("lost", s).show("lost member", &who(s));
    }
    if let Some(s) = v["seat"].as_u64() {
        i.put("seat", s).show("helper", &who(s));
    }
    let helpers: Vec<u64> = v["helpers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let items = helpers.iter().map(|&s| untrusted::line(&who(s))).collect();
    i.list("helpers", "helpers", json!(helpers), items);
    let sigma = v.get("sigma_sent").is_some_and(|s| !s.is_null());
    i.field("sigma_sent", "sigma sent", sigma);
    i
}

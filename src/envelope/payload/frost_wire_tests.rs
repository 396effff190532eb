//! The readers in `frost_wire` against frost-core's serde: for real packages and for
//! every kind of damage, both accept or both refuse, and what they accept is equal.

use super::*;
use crate::ceremony::frost::round1::SigningCommitments;
use crate::ceremony::frost::{keys::dkg, SigningPackage};
use crate::ceremony::{Member, Roster};
use nostr::Keys;
use rand::rngs::OsRng;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct OursCommitments(#[serde(deserialize_with = "commitments")] SigningCommitments);
#[derive(Deserialize)]
struct OursPackage(#[serde(deserialize_with = "signing_package")] SigningPackage);

fn roster(t: u16, n: u16) -> Roster {
    let members = (1..=n)
        .map(|i| Member {
            name: format!("m{i}"),
            npub: Keys::generate().public_key(),
        })
        .collect();
    Roster::new("wire", t, members, None, &mut OsRng).unwrap()
}

/// Both readers on the same text: the same verdict, and equal values when accepted.
fn agree<T, Theirs, Ours>(v: &Value, ours: impl Fn(Ours) -> T, what: &str) -> bool
where
    T: PartialEq + std::fmt::Debug,
    Theirs: DeserializeOwned + Into<T>,
    Ours: DeserializeOwned,
{
    let text = v.to_string();
    let theirs = serde_json::from_str::<Theirs>(&text).map(Into::into);
    let mine = serde_json::from_str::<Ours>(&text).map(ours);
    match (&theirs, &mine) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}: different values from {text}"),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "{what}: frost-core says {:?}, frost_wire says {:?}, for {text}",
            theirs.as_ref().err().map(|e| e.to_string()),
            mine.as_ref().err().map(|e| e.to_string())
        ),
    }
    theirs.is_ok()
}

/// Damaged versions of a hex point.
fn bad_points(good: &str) -> Vec<Value> {
    let x = &good[2..];
    vec![
        json!(good.to_uppercase()),
        json!(&good[..64]),
        json!(format!("{good}00")),
        json!(format!("zz{x}")),
        json!(format!("04{x}")),
        json!(format!("00{x}")),
        json!("00".repeat(33)),
        json!(format!("02{}", "ff".repeat(32))),
        json!(format!("03{}", "00".repeat(32))),
        json!(7),
        Value::Null,
    ]
}

/// Damaged versions of a header-carrying object: header and unknown fields.
fn bad_headers(v: &Value) -> Vec<Value> {
    let mut out = vec![];
    let mut with = |f: &dyn Fn(&mut Value)| {
        let mut w = v.clone();
        f(&mut w);
        out.push(w);
    };
    with(&|w| w["header"]["version"] = json!(1));
    with(&|w| w["header"]["version"] = json!(-1));
    with(&|w| w["header"]["ciphersuite"] = json!("FROST-secp256k1-SHA256-v1"));
    with(&|w| w["header"]["ciphersuite"] = json!(CIPHERSUITE.to_lowercase()));
    with(&|w| w["header"]["extra"] = json!(0));
    with(&|w| {
        w["header"].as_object_mut().unwrap().remove("version");
    });
    with(&|w| {
        w.as_object_mut().unwrap().remove("header");
    });
    with(&|w| w["extra"] = json!("x"));
    out
}

#[test]
fn signing_commitments_and_packages_read_as_frost_core_reads_them() {
    let r = roster(7, 10);
    let dealt = crate::ceremony::dealer::deal(&r, None, &mut OsRng).unwrap();
    let key = crate::ceremony::frost::keys::KeyPackage::try_from(dealt.shares[&1].clone()).unwrap();
    let mut commitments = std::collections::BTreeMap::new();
    for s in 1..=7u16 {
        commitments.insert(s, crate::ceremony::signing::commit(&key, &mut OsRng).1);
    }
    let package = crate::ceremony::signing::signing_package(&r, &commitments, b"wire").unwrap();

    // One member's commitments, whole and damaged.
    let c = serde_json::to_value(commitments[&1]).unwrap();
    assert!(agree::<_, SigningCommitments, OursCommitments>(
        &c,
        |o| o.0,
        "good"
    ));
    let mut refused = 0;
    let mut cases = bad_headers(&c);
    for field in ["hiding", "binding"] {
        let good = c[field].as_str().unwrap().to_owned();
        for p in bad_points(&good) {
            let mut w = c.clone();
            w[field] = p;
            cases.push(w);
        }
        let mut w = c.clone();
        w.as_object_mut().unwrap().remove(field);
        cases.push(w);
    }
    for w in &cases {
        refused +=
            !agree::<_, SigningCommitments, OursCommitments>(w, |o| o.0, "commitments") as usize;
    }
    // Upper-case hex is the only damage both accept.
    assert_eq!(refused, cases.len() - 2, "every other case was refused");

    // The whole signing package, and its own damage: message, identifiers, a member's
    // commitments, duplicate identifiers (the last one wins in both).
    let p = serde_json::to_value(&package).unwrap();
    assert!(agree::<_, SigningPackage, OursPackage>(
        &p,
        |o| o.0,
        "good package"
    ));
    let mut cases = bad_headers(&p);
    for m in [
        json!("abc"),
        json!("ZZ"),
        json!(""),
        json!("00FF"),
        json!(3),
    ] {
        let mut w = p.clone();
        w["message"] = m;
        cases.push(w);
    }
    let first = p["signing_commitments"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    for key in [
        "00".repeat(32),
        "ff".repeat(32),
        "zz".into(),
        first.to_uppercase(),
        format!("{first}00"),
    ] {
        let mut w = p.clone();
        let obj = w["signing_commitments"].as_object_mut().unwrap();
        let v = obj.remove(&first).unwrap();
        obj.insert(key, v);
        cases.push(w);
    }
    for bad in bad_headers(&c) {
        let mut w = p.clone();
        w["signing_commitments"][&first] = bad;
        cases.push(w);
    }
    let mut w = p.clone();
    w["signing_commitments"][&first]["hiding"] = json!(format!("02{}", "ff".repeat(32)));
    cases.push(w);
    let text = p.to_string();
    let dup = text.replacen(
        &format!("\"{first}\":"),
        &format!("\"{}\":{},\"{first}\":", first.to_uppercase(), c),
        1,
    );
    cases.push(serde_json::from_str(&dup).unwrap_or(Value::Null));
    for w in &cases {
        agree::<_, SigningPackage, OursPackage>(w, |o| o.0, "package");
    }
    // The duplicate key really is read, and the first of the two is dropped in both.
    let ours: OursPackage = serde_json::from_str(&dup).unwrap();
    let theirs: SigningPackage = serde_json::from_str(&dup).unwrap();
    assert_eq!(ours.0, theirs);
}

#[test]
fn dkg_round1_packages_read_as_frost_core_reads_them() {
    let r = roster(3, 5);
    let (_, package) = crate::ceremony::dkg::part1(&r, 1, &mut OsRng).unwrap();
    let p = serde_json::to_value(&package).unwrap();
    assert!(agree::<_, dkg::round1::Package, Round1>(
        &p,
        |o| o.0,
        "good"
    ));
    let mut cases = bad_headers(&p);
    let good = p["commitment"][1].as_str().unwrap().to_owned();
    for bad in bad_points(&good) {
        let mut w = p.clone();
        w["commitment"][1] = bad;
        cases.push(w);
    }
    for c in [json!([]), json!("x"), json!([good.clone()])] {
        let mut w = p.clone();
        w["commitment"] = c;
        cases.push(w);
    }
    let pok = p["proof_of_knowledge"].as_str().unwrap().to_owned();
    for bad in [&pok[..pok.len() - 2], "00", &format!("{pok}00")] {
        let mut w = p.clone();
        w["proof_of_knowledge"] = json!(bad);
        cases.push(w);
    }
    let mut accepted = 0;
    for w in &cases {
        accepted += agree::<_, dkg::round1::Package, Round1>(w, |o| o.0, "round1") as usize;
    }
    // Upper-case hex, and commitment vectors of another length (the roster's threshold
    // is checked later, by `ceremony::dkg::check_round1`), are read by both.
    assert_eq!(accepted, 3, "the rest was refused");
}

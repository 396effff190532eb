//! `sign aggregate` and `sign event`: t shares into one BIP-340 signature, checked.

use super::*;

/// The result of a signing: a signed event, or a raw signature.
#[derive(Serialize)]
pub struct Signed {
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawSignature>,
    pub signers: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct RawSignature {
    pub pubkey: String,
    pub message: String,
    pub signature: String,
}

impl Report for Signed {
    fn human(&self) -> String {
        format!(
            "signed by {} for {}; signature verified (libsecp256k1)",
            self.signers.join(", "),
            self.group
        )
    }
    fn stdout(&self) -> Option<String> {
        match (&self.event, &self.raw) {
            (Some(e), _) => Some(e.as_json()),
            (_, Some(r)) => Some(serde_json::to_string(r).expect("raw")),
            _ => None,
        }
    }
}

pub(crate) fn finalize(
    group: &Group,
    message: &Message,
    sig: &[u8; 64],
    signers: Vec<String>,
) -> Result<Signed> {
    match message {
        Message::Event { event } => {
            let event = events::finish(event.clone(), sig).map_err(|e| {
                Error::Rejected(format!(
                    "aggregate signature failed libsecp256k1 verification: {e}"
                ))
            })?;
            Ok(Signed {
                group: group.npub.clone(),
                event: Some(event),
                raw: None,
                signers,
            })
        }
        Message::Raw { hex: m } => {
            events::verify_raw(
                &group.public_key(),
                &hex::decode(m).unwrap_or_default(),
                sig,
            )
            .map_err(|e| {
                Error::Rejected(format!(
                    "aggregate signature failed libsecp256k1 verification: {e}"
                ))
            })?;
            let raw = RawSignature {
                pubkey: group.public_key().to_hex(),
                message: m.clone(),
                signature: hex::encode(sig),
            };
            Ok(Signed {
                group: group.npub.clone(),
                event: None,
                raw: Some(raw),
                signers,
            })
        }
    }
}

/// Coordinator: verify every share, aggregate, verify the result with libsecp256k1.
pub fn aggregate(
    home: Option<&Home>,
    group_file: Option<&Path>,
    request: &Input,
    ex: &mut dyn Exchange,
) -> Result<Signed> {
    let req = check_request(home, group_file, request)?;
    let roster = &req.group.roster;
    let inputs = ex.inputs(roster)?;
    let rid = req.event.id.to_hex();
    let got = collect(
        roster,
        &inputs,
        Want {
            round: Round::SignShare,
            for_me: None,
            reference: Some(&rid),
            also: &[Round::SignRequest, Round::SignCommit],
        },
    )?;
    let mut shares = BTreeMap::new();
    for (&from, c) in &got {
        if !req.signers.contains(&from) {
            return Err(Error::Rejected(format!(
                "{} sent a share but was not asked to sign this request",
                c.sender
            )));
        }
        let p: SharePayload = c
            .payload(None)
            .map_err(|e| Error::Rejected(e.to_string()))?;
        if p.request != rid {
            return Err(Error::Rejected(format!(
                "{}'s share names another request",
                c.sender
            )));
        }
        shares.insert(from, p.share);
    }
    let sig = signing::aggregate(
        roster,
        &req.payload.signing_package,
        &shares,
        &req.group.public_key_package,
    )?;
    finalize(
        &req.group,
        &req.payload.message,
        &sig,
        req.signers.iter().map(|&i| roster.name(i)).collect(),
    )
}

/// One-shot signing when this home holds at least t active shares (the CI case). Nonces
/// live only in memory for this call.
pub fn sign_local(home: &Home, group: &str, what: ToSign, consent: Consent<'_>) -> Result<Signed> {
    let group = home.find_group(group)?;
    let roster = &group.roster;
    let seats = home.active_seats(&group)?;
    if seats.len() < roster.threshold as usize {
        return Err(Error::Invalid(format!(
            "this home holds {} share(s) of {}; signing alone needs {} (use the sign commit/request/share/aggregate rounds)",
            seats.len(),
            group.npub,
            roster.threshold
        )));
    }
    let message = build_message(&group, what)?;
    let chosen: Vec<MemberId> = seats.into_iter().take(roster.threshold as usize).collect();
    let mut keys = BTreeMap::new();
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    for &s in &chosen {
        let key = home.share(&group, s)?;
        let (n, c) = signing::commit(&key, &mut rand::rngs::OsRng);
        keys.insert(s, key);
        nonces.insert(s, n);
        commitments.insert(s, c);
    }
    let package = signing::signing_package(roster, &commitments, &message.bytes())?;
    if !consent(&summary_of(
        &group,
        &message,
        ("this home", None),
        &chosen,
        chosen[0],
    )) {
        return Err(Error::Refused("signing declined".into()));
    }
    let mut shares = BTreeMap::new();
    for s in &chosen {
        shares.insert(*s, signing::sign(&package, &nonces[s], &keys[s])?);
    }
    let sig = signing::aggregate(roster, &package, &shares, &group.public_key_package)?;
    finalize(
        &group,
        &message,
        &sig,
        chosen.iter().map(|&i| roster.name(i)).collect(),
    )
}

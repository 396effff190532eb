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
            let event = events::finish(event.clone(), sig)
                .map_err(|reason| SignError::Unverified { reason })?;
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
            .map_err(|reason| SignError::Unverified { reason })?;
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
    group: Option<&Group>,
    request: &Input,
    ex: &mut dyn Exchange,
) -> Result<Signed> {
    let req = check_request(home, group, request)?;
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
            return Err(SignError::ShareFromNonSigner {
                sender: c.sender.clone(),
            }
            .into());
        }
        let p: SharePayload = c.payload(None)?;
        if p.request != rid {
            return Err(SignError::ShareForOtherRequest {
                sender: c.sender.clone(),
            }
            .into());
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
    // Built inside the home's call (after its share count check), used after it.
    let built = std::cell::RefCell::new(None);
    let (sig, chosen) = home.sign_alone(
        &group,
        || -> Result<Vec<u8>> {
            let m = build_message(&group, what)?;
            let bytes = m.bytes();
            *built.borrow_mut() = Some(m);
            Ok(bytes)
        },
        |chosen| {
            let message = built.borrow();
            let message = message.as_ref().expect("built before consent");
            consent(&summary_of(
                &group,
                message,
                ("this home", None),
                chosen,
                chosen[0],
            ))
        },
    )?;
    let message = built.into_inner().expect("built before signing");
    finalize(
        &group,
        &message,
        &sig,
        chosen.iter().map(|&i| roster.name(i)).collect(),
    )
}

//! The resumable round machine DKG, refresh and repair share.
//!
//! A seat in one of these ceremonies runs its steps one command at a time, possibly days
//! apart and after a crash. Three rules keep that safe, and they live here once:
//! - **state**: what a seat sent and received is saved (public data only) before it is
//!   delivered, in one state file per seat and ceremony;
//! - **secrets** between steps (a round's secret package) live in the keystore under the
//!   seat's name, and are removed once the next step has saved what it made from them;
//! - **replay**: a step that already ran delivers the packages it saved again and never
//!   computes new ones, because two different packages for one round are equivocation.
//!
//! A round-1 package received from another member is checked against the one this seat
//! already used (equivocation), and a package in this seat's own name against the one it
//! made (forgery, or another home with the same identity).

use std::collections::BTreeMap;

use nostr::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{collect, Exchange, Input, Want};
use crate::ceremony::{MemberId, Roster};
use crate::envelope::{self, Checked, Round};
use crate::error::{Result, RoundError};
use crate::home::Home;

/// One seat's place in one ceremony: where its state and its step secrets are kept.
pub struct Seat<'h> {
    home: &'h Home,
    /// The state file, relative to the home's state folder.
    state: String,
    /// The stem of this seat's step secrets (`<stem>.r1`, `<stem>.r2`).
    secrets: String,
}

impl<'h> Seat<'h> {
    pub fn new(home: &'h Home, state: String, secrets: String) -> Self {
        Seat {
            home,
            state,
            secrets,
        }
    }

    /// The saved state, if a step of this seat has run.
    pub fn load<S: DeserializeOwned>(&self) -> Result<Option<S>> {
        Ok(self.home.read_state(&self.state)?)
    }

    /// Saves the state; done before anything it records is delivered.
    pub fn save<S: Serialize>(&self, state: &S) -> Result<()> {
        Ok(self.home.write_state(&self.state, state)?)
    }

    /// The keystore name of this seat's secret `what` (`r1`, `r2`, or a step's own).
    pub fn name(&self, what: &str) -> String {
        format!("{}.{what}", self.secrets)
    }

    fn secret_name(&self, round: u8) -> String {
        self.name(&format!("r{round}"))
    }

    /// Keeps a round's secret until the next step.
    pub fn keep<T: Serialize>(&self, round: u8, secret: &T) -> Result<()> {
        Ok(self
            .home
            .keystore()
            .put_json_step(&self.secret_name(round), secret)?)
    }

    /// A round's secret, kept by the step before.
    pub fn secret<T: DeserializeOwned>(&self, round: u8) -> Result<T> {
        Ok(self.home.keystore().get_json(&self.secret_name(round))?)
    }

    /// Removes a round's secret, once the state made from it is saved.
    pub fn forget(&self, round: u8) -> Result<()> {
        Ok(self.home.keystore().remove(&self.secret_name(round))?)
    }
}

/// What a two-round ceremony's seat sent and received (DKG and refresh). Its fields sit
/// flat in the ceremony's state file, as they always did.
#[derive(Serialize, Deserialize)]
pub struct Sent {
    pub round1_sent: Event,
    #[serde(default, deserialize_with = "seat_keys")]
    pub round1_received: BTreeMap<MemberId, Event>,
    #[serde(default)]
    pub round2_sent: Vec<(String, Event)>,
}

impl Sent {
    pub fn new(round1_sent: Event) -> Self {
        Sent {
            round1_sent,
            round1_received: BTreeMap::new(),
            round2_sent: vec![],
        }
    }
}

/// Seat numbers as JSON object keys. A flattened struct reaches serde as buffered
/// content, where a key stays the string `"1"` and no longer parses as a number itself.
fn seat_keys<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<MemberId, Event>, D::Error> {
    let m: BTreeMap<String, Event> = Deserialize::deserialize(d)?;
    m.into_iter()
        .map(|(k, v)| match k.parse() {
            Ok(seat) => Ok((seat, v)),
            Err(_) => Err(serde::de::Error::custom(format!(
                "{k:?} is not a seat number"
            ))),
        })
        .collect()
}

/// What a step delivered, as its report states it.
#[derive(Serialize)]
pub struct Delivery {
    pub packages: Vec<String>,
    /// Whether the packages went to a transport (not only to files).
    #[serde(skip)]
    pub sent: bool,
    pub already_done: bool,
}

impl Delivery {
    /// "done", or "was already done" for a step re-run from saved state.
    pub fn done(&self) -> &'static str {
        if self.already_done {
            "was already done"
        } else {
            "done"
        }
    }

    /// The lines naming the packages, for a human report.
    pub fn lines(&self) -> String {
        super::delivered_lines(self.sent, &self.packages)
    }
}

/// Delivers a step's packages, the first time or again from saved state.
pub fn deliver(
    ex: &mut dyn Exchange,
    packages: &[(String, Event)],
    already_done: bool,
) -> Result<Delivery> {
    let packages = ex.deliver_each(packages)?;
    Ok(Delivery {
        packages,
        sent: ex.sent(),
        already_done,
    })
}

/// The same for a step that sent one package.
pub fn deliver_one(
    ex: &mut dyn Exchange,
    (file, event): (&str, &Event),
    already_done: bool,
) -> Result<Delivery> {
    let path = ex.deliver(file, event)?;
    Ok(Delivery {
        packages: vec![path],
        sent: ex.sent(),
        already_done,
    })
}

/// How a ceremony names its round-1 packages in the messages of [`round1_of_others`].
pub struct Words {
    /// "round-1 package", "refresh round-1 package".
    pub package: &'static str,
    /// What to abort: "ceremony", "refresh".
    pub ceremony: &'static str,
}

/// The other members' round-1 packages among `inputs`. One that differs from the
/// package this seat already used is refused; so is one in this seat's own name that is
/// not `own`, when `own` is given.
pub fn round1_of_others(
    roster: &Roster,
    seat: MemberId,
    inputs: &[Input],
    rounds: (Round, Round),
    used: &BTreeMap<MemberId, Event>,
    own: Option<&Event>,
    words: &Words,
) -> Result<BTreeMap<MemberId, Checked>> {
    let mut got = collect(
        roster,
        inputs,
        Want {
            round: rounds.0,
            for_me: None,
            reference: None,
            also: &[rounds.1],
        },
    )?;
    if let (Some(mine), Some(own)) = (got.remove(&seat), own) {
        if mine.event.id != own.id {
            return Err(RoundError::NotOurs {
                package: words.package,
                member: mine.sender,
                got: short(&mine.event),
                ours: short(own),
                ceremony: words.ceremony,
            }
            .into());
        }
    }
    for (from, c) in &got {
        if let Some(prev) = used.get(from) {
            if prev.id != c.event.id {
                return Err(RoundError::Equivocated {
                    package: words.package,
                    member: c.sender.clone(),
                    got: short(&c.event),
                    used: short(prev),
                    ceremony: words.ceremony,
                }
                .into());
            }
        }
    }
    Ok(got)
}

/// The payloads of round-1 packages a step saved (checked when they were received).
pub fn saved_payloads<T: DeserializeOwned>(
    roster: &Roster,
    events: &BTreeMap<MemberId, Event>,
) -> Result<BTreeMap<MemberId, T>> {
    events
        .iter()
        .map(|(&k, ev)| {
            let c = Checked {
                event: ev.clone(),
                meta: envelope::saved_meta(ev)?,
                from: Some(k),
                sender: roster.name(k),
            };
            Ok((k, c.payload(None)?))
        })
        .collect()
}

/// An event id as messages show it: its first 12 hex digits.
fn short(event: &Event) -> String {
    event.id.to_hex()[..12].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file as DKG and refresh write it: the record flat beside other fields.
    #[derive(Serialize, Deserialize)]
    struct State {
        seat: MemberId,
        #[serde(flatten)]
        sent: Sent,
        #[serde(default)]
        later: Option<String>,
    }

    fn event(n: u8) -> Event {
        let keys = nostr::Keys::generate();
        nostr::EventBuilder::text_note(format!("{n}"))
            .sign_with_keys(&keys)
            .unwrap()
    }

    #[test]
    fn the_record_reads_back_flat_with_seat_keys() {
        let mut sent = Sent::new(event(0));
        sent.round1_received.insert(2, event(2));
        sent.round1_received.insert(10, event(10));
        sent.round2_sent.push(("dkg-2-a.json".into(), event(3)));
        let st = State {
            seat: 1,
            sent,
            later: None,
        };
        let json = serde_json::to_value(&st).unwrap();
        // The keys every earlier state file has, at the top level.
        for k in ["seat", "round1_sent", "round1_received", "round2_sent"] {
            assert!(json.get(k).is_some(), "{k} missing from {json}");
        }
        let back: State = serde_json::from_value(json).unwrap();
        assert_eq!(
            back.sent
                .round1_received
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [2, 10]
        );
        assert_eq!(back.sent.round2_sent.len(), 1);
    }

    #[test]
    fn an_early_state_without_later_rounds_reads_back() {
        let json = serde_json::json!({ "seat": 3, "round1_sent": event(0) });
        let back: State = serde_json::from_value(json).unwrap();
        assert!(back.sent.round1_received.is_empty() && back.sent.round2_sent.is_empty());
        let bad = serde_json::json!({
            "seat": 3, "round1_sent": event(0), "round1_received": { "x": event(1) }
        });
        let e = serde_json::from_value::<State>(bad).err().unwrap();
        assert!(e.to_string().contains("not a seat number"), "{e}");
    }
}

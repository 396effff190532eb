//! Shared fixtures for the passport fuzz targets: fixed identities, a fixed roster, and
//! a small text format that lets the envelope target reach past signature verification
//! (the fuzzer cannot forge BIP-340 signatures, so it supplies tags and content and the
//! harness signs them with a fixed key).

use std::sync::OnceLock;

use nostr::nips::nip44;
use nostr::{Event, EventBuilder, JsonUtil, Keys, Kind, PublicKey, SecretKey, Tag};
use passport::ceremony::{Member, Roster};
use passport::envelope::PACKAGE_KIND;

pub mod seeds;

/// Fixed ceremony id of the fixture roster.
pub const CEREMONY_ID: &str = "00112233445566778899aabbccddeeff";

pub struct Fixture {
    pub alice: Keys,
    pub bob: Keys,
    pub carol: Keys,
    pub dealer: Keys,
    pub outsider: Keys,
    /// 2-of-3 dealer roster: alice (seat 1), bob (2), carol (3); dealer `dealer`.
    pub roster: Roster,
    /// The key event templates are built for.
    pub group_key: PublicKey,
}

impl Fixture {
    /// Every identity, in the order the structured format's signer byte selects them.
    pub fn identities(&self) -> [&Keys; 5] {
        [&self.alice, &self.bob, &self.carol, &self.dealer, &self.outsider]
    }
}

pub fn keys(byte: u8) -> Keys {
    Keys::new(SecretKey::from_slice(&[byte; 32]).expect("small constant is a valid secret key"))
}

pub fn fixture() -> &'static Fixture {
    static FX: OnceLock<Fixture> = OnceLock::new();
    FX.get_or_init(|| {
        let (alice, bob, carol, dealer, outsider) = (keys(1), keys(2), keys(3), keys(4), keys(5));
        let member = |name: &str, k: &Keys| Member { name: name.into(), npub: k.public_key() };
        let roster = Roster {
            version: passport::ceremony::roster::ROSTER_VERSION,
            ceremony_id: CEREMONY_ID.into(),
            purpose: "fuzz".into(),
            threshold: 2,
            dealer: Some(dealer.public_key()),
            members: vec![member("alice", &alice), member("bob", &bob), member("carol", &carol)],
        };
        roster.validate().expect("fixture roster is valid");
        let group_key = keys(0x42).public_key();
        Fixture { alice, bob, carol, dealer, outsider, roster, group_key }
    })
}

/// Marker byte of the structured envelope format. Raw package bytes never start with
/// it (a NUL is neither JSON nor whitespace), so both formats share one corpus.
pub const STRUCTURED: u8 = 0;

/// Structured envelope input:
///
/// ```text
/// 0x00 | flags | UTF-8 text (lossy)
/// flags: bits 0-2 signer (mod 5: alice, bob, carol, dealer, outsider)
///        bit 3    NIP-44 encrypt the content ...
///        bits 4-6 ... to this identity (mod 5)
/// text:  first line is the content; every further line is a tag, fields split by TAB
/// ```
pub struct Structured {
    pub signer: usize,
    pub encrypt_to: Option<usize>,
    pub content: String,
    pub tags: Vec<Vec<String>>,
}

impl Structured {
    pub fn decode(data: &[u8]) -> Option<Structured> {
        let (&marker, rest) = data.split_first()?;
        if marker != STRUCTURED {
            return None;
        }
        let (&flags, text) = rest.split_first()?;
        let text = String::from_utf8_lossy(text);
        let mut lines = text.split('\n');
        let content = lines.next().unwrap_or_default().to_owned();
        let tags = lines.map(|l| l.split('\t').map(str::to_owned).collect()).collect();
        Some(Structured {
            signer: (flags & 7) as usize % 5,
            encrypt_to: (flags & 8 != 0).then_some(((flags >> 4) & 7) as usize % 5),
            content,
            tags,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut flags = self.signer as u8 & 7;
        if let Some(to) = self.encrypt_to {
            flags |= 8 | ((to as u8 & 7) << 4);
        }
        let mut out = vec![STRUCTURED, flags];
        out.extend_from_slice(self.content.as_bytes());
        for t in &self.tags {
            out.push(b'\n');
            out.extend_from_slice(t.join("\t").as_bytes());
        }
        out
    }

    /// Signs (and maybe encrypts) the described kind-7707 event. `None` when the input
    /// cannot become an event at all (an empty tag line, content NIP-44 refuses).
    pub fn seal(&self, fx: &Fixture) -> Option<Event> {
        let ids = fx.identities();
        let signer = ids[self.signer];
        let tags = self
            .tags
            .iter()
            .map(|t| Tag::parse(t.iter().cloned()).ok())
            .collect::<Option<Vec<_>>>()?;
        let content = match self.encrypt_to {
            Some(to) => nip44::encrypt(
                signer.secret_key(),
                &ids[to].public_key(),
                &self.content,
                nip44::Version::V2,
            )
            .ok()?,
            None => self.content.clone(),
        };
        EventBuilder::new(Kind::from(PACKAGE_KIND), content)
            .tags(tags)
            .sign_with_keys(signer)
            .ok()
    }

    /// The sealed event as the JSON bytes a package file holds.
    pub fn seal_json(&self, fx: &Fixture) -> Option<Vec<u8>> {
        self.seal(fx).map(|e| e.as_json().into_bytes())
    }

    /// The structured form of an existing package (tags and content; for encrypted
    /// packages the caller supplies the plaintext).
    pub fn of_event(fx: &Fixture, event: &Event, plaintext: Option<&str>) -> Structured {
        let ids = fx.identities();
        let signer = ids.iter().position(|k| k.public_key() == event.pubkey).unwrap_or(4);
        let tags: Vec<Vec<String>> = event.tags.iter().map(|t| t.as_slice().to_vec()).collect();
        let encrypt_to = plaintext.and_then(|_| {
            let p = tags.iter().find(|t| t.len() >= 2 && t[0] == "p")?;
            ids.iter().position(|k| k.public_key().to_hex() == p[1])
        });
        Structured {
            signer,
            encrypt_to,
            content: plaintext.map(str::to_owned).unwrap_or_else(|| event.content.clone()),
            tags,
        }
    }
}

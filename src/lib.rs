//! passport: FROST threshold keys for Nostr.
#![forbid(unsafe_code)]

pub mod ceremony;
pub mod conversation;
pub mod envelope;
pub mod error;
pub mod fsutil;
pub mod keystore;

pub use error::{Error, Result};
pub mod agent;
pub mod audit;
pub mod backup;
pub mod bunker;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod events;
pub mod group;
pub mod home;
pub mod hsm;
#[cfg(test)]
mod layers;
pub mod ops;
pub mod serve;
pub mod transport;
pub mod untrusted;

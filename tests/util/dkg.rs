//! A DKG through files, each member in its own plain home.

use std::path::Path;

use super::{dkg_files_with, passport, Member};

/// A full DKG through files (round1, round2, finish, confirm) among `ms`, each member in
/// its own home; returns the group npub.
pub fn dkg_files(ms: &[&Member], roster: &Path, dir: &Path) -> String {
    dkg_files_with(ms, roster, dir, &|m| passport(&m.home))
}

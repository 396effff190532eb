//! The payloads round packages carry, one module per round family. Workflows, `serve`
//! and the bunker all read and write packages through these types, so the wire format
//! has one definition (pinned by the golden files in `testdata/`).

pub mod cosign;
pub mod dkg;
pub mod frost_wire;
pub mod handover;
pub mod keygen;
pub mod refresh;
pub mod repair;
pub mod sign;

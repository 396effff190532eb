//! Not a fuzz target: writes seed corpora into `$PASSPORT_FUZZ_SEEDS/<target>/` and
//! exits. It is built by `cargo fuzz build` next to the targets (sharing their compiled
//! dependencies); `scripts/fuzz.sh` runs it. Run any other way it exits at once.
#![no_main]

libfuzzer_sys::fuzz_target!(init: passport_fuzz::seeds::main_from_env(), |_data: &[u8]| {});

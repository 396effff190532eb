//! `ops::inspect::inspect` (and through it `ops::verify::verify`) on a file holding the
//! input: the command an operator points at any file someone sent them. Its human
//! output must never carry a character that acts on the terminal.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use passport::ops::Report;

fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        dir.join(format!("passport-fuzz-inspect-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write scratch file");
    if let Ok(i) = passport::ops::inspect::inspect(path) {
        // What a person reads: nothing from the file may act on the terminal.
        let h = i.human();
        assert!(
            !h.chars().any(|c| c != '\n' && passport::untrusted::is_dangerous(c)),
            "inspect printed a control, bidi or invisible character: {h:?}"
        );
        let _ = serde_json::to_string(&i).expect("inspection serializes");
    }
    let alice = passport_fuzz::fixture().alice.public_key().to_hex();
    let _ = passport::ops::verify::verify(path, None);
    let _ = passport::ops::verify::verify(path, Some(&alice));
});

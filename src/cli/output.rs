//! Output conventions: data on stdout, human messages on stderr, `--json` prints one
//! JSON object on stdout (errors included). A closed stdout (broken pipe) is not an error.
//!
//! Everything printed here passes through [`crate::untrusted`] once more, so a control
//! or bidi character that reached a message (a name quoted in an error, a field a
//! report forgot to escape) is shown as a marker instead of acting on the terminal.
//! JSON stays JSON: such characters become `\uXXXX` escapes with the same meaning.

use std::io::{IsTerminal, Write};

use serde_json::json;

use crate::error::{Error, Result};
use crate::ops::Report;
use crate::untrusted;

pub struct Output {
    pub json: bool,
}

fn write_stdout(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}").and_then(|_| o.flush());
}

impl Output {
    pub fn report<R: Report>(&self, r: &R) -> Result<()> {
        if self.json {
            write_stdout(&untrusted::json(
                &serde_json::to_string(r).expect("reports serialize"),
            ));
        } else {
            eprintln!("{}", untrusted::message(&r.human()));
            if let Some(data) = r.stdout() {
                write_stdout(&for_stdout(data));
            }
        }
        Ok(())
    }

    /// One JSON line on stdout (streams such as `cosign --json`).
    pub fn line(&self, v: &serde_json::Value) {
        write_stdout(&untrusted::json(&v.to_string()));
    }

    /// Human narration (stderr); silent with `--json`.
    pub fn note(&self, msg: &str) {
        if !self.json {
            eprintln!("{}", untrusted::message(msg));
        }
    }

    /// A warning the operator must see: on stderr even with `--json` (stdout stays one
    /// JSON object).
    pub fn warning(&self, msg: &str) {
        eprintln!("passport: {}", untrusted::message(msg));
    }

    /// Warns about every key of `r` that holds at least t seats (and can sign alone).
    pub fn warn_shared_seats(&self, r: &crate::ceremony::Roster) {
        for w in crate::ops::shared_seat_warnings(r) {
            self.warning(&w);
        }
    }

    /// Prints an error and returns its exit code.
    pub fn error(&self, e: &Error) -> i32 {
        let code = e.exit_code();
        if self.json {
            write_stdout(&untrusted::json(
                &json!({ "error": { "kind": e.kind(), "message": e.to_string(), "exit_code": code } }).to_string(),
            ));
        } else {
            eprintln!("passport: error: {}", untrusted::one_line(&e.to_string()));
        }
        code
    }
}

/// Data for stdout (a signed event, a roster) is left byte for byte as it is for a pipe
/// or a file; on a terminal it is made safe to look at (JSON keeps its meaning).
fn for_stdout(data: String) -> String {
    if !std::io::stdout().is_terminal() {
        return data;
    }
    if serde_json::from_str::<serde_json::Value>(&data).is_ok() {
        untrusted::json(&data)
    } else {
        untrusted::message(&data)
    }
}

//! Output conventions: data on stdout, human messages on stderr, `--json` prints one
//! JSON object on stdout (errors included). A closed stdout (broken pipe) is not an error.

use std::io::Write;

use serde_json::json;

use crate::error::{Error, Result};
use crate::ops::Report;

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
            write_stdout(&serde_json::to_string(r).expect("reports serialize"));
        } else {
            eprintln!("{}", r.human());
            if let Some(data) = r.stdout() {
                write_stdout(&data);
            }
        }
        Ok(())
    }

    /// One JSON line on stdout (streams such as `cosign --json`).
    pub fn line(&self, v: &serde_json::Value) {
        write_stdout(&v.to_string());
    }

    /// Human narration (stderr); silent with `--json`.
    pub fn note(&self, msg: &str) {
        if !self.json {
            eprintln!("{msg}");
        }
    }

    /// Prints an error and returns its exit code.
    pub fn error(&self, e: &Error) -> i32 {
        let code = e.exit_code();
        if self.json {
            write_stdout(
                &json!({ "error": { "kind": e.kind(), "message": e.to_string(), "exit_code": code } }).to_string(),
            );
        } else {
            eprintln!("passport: error: {e}");
        }
        code
    }
}

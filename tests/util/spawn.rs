//! `passport` processes spawned rather than run to the end by assert_cmd.

use std::path::Path;

use serde_json::Value;

/// Spawns `passport` commands in parallel and waits for all; returns their outputs.
pub fn run_parallel(cmds: Vec<std::process::Command>) -> Vec<std::process::Output> {
    let children: Vec<_> = cmds
        .into_iter()
        .map(|mut c| {
            c.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

/// The parsed last stdout line of a successful `--json` run.
pub fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().expect("one JSON line")).unwrap()
}

/// A std Command for the passport binary with this home (for spawning).
pub fn spawn_cmd(home: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("passport"));
    c.arg("--home").arg(home);
    c.env_remove("PASSPORT_PASSPHRASE")
        .env_remove("PASSPORT_AGE_IDENTITY")
        .env_remove("PASSPORT_HOME")
        .env_remove("PASSPORT_VIA");
    c
}

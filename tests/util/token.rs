//! Homes on tokens: a SoftHSM2 directory of the test's own, and a DKG whose commands the
//! caller makes (e.g. with a token's environment).

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use super::{json_ok, Member};

/// A fresh SoftHSM2 token directory under `root/softhsm` (no tokens yet) and the
/// configuration file that points the module at it: `(tokendir, conf)`.
pub fn softhsm_dirs(root: &Path) -> (PathBuf, PathBuf) {
    let dir = root.join("softhsm");
    let tokendir = dir.join("tokens");
    std::fs::create_dir_all(&tokendir).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokendir.display()
        ),
    )
    .unwrap();
    (tokendir, conf)
}

/// [`dkg_files`] with each member's command made by `cmd` (e.g. a token's environment).
pub fn dkg_files_with(
    ms: &[&Member],
    roster: &Path,
    dir: &Path,
    cmd: &dyn Fn(&Member) -> Command,
) -> String {
    let mut group = String::new();
    for step in ["round1", "round2", "finish", "confirm"] {
        for m in ms {
            let mut c = cmd(m);
            c.args(["dkg", step, "--roster"]).arg(roster);
            if step != "round1" {
                c.arg("--in").arg(dir);
            }
            if step != "confirm" {
                c.arg("--out").arg(dir);
            }
            let v = json_ok(c);
            if step == "confirm" {
                group = v["group"].as_str().unwrap().to_owned();
            }
        }
    }
    group
}

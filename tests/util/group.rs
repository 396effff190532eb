//! The dealer group of the CI layout, and signing through files with plain homes.

use std::path::Path;

use super::{json_ok, make_member, passport, pkg, sign_files_with, write_roster, Member};

/// A dealer 2-of-3 group whose seats `ci` and `ci-b` are held by one home (so it can
/// sign alone), plus `offsite`. With `split`, the dealer splits the nsec in that file.
pub struct CiGroup {
    pub ci: Member,
    pub offsite: Member,
    pub group: String,
}

pub fn ci_group(root: &Path, split: Option<&Path>) -> CiGroup {
    let dealer = make_member(root, "dealer");
    let ci = make_member(root, "ci");
    let offsite = make_member(root, "offsite");
    let ci_b = Member {
        name: "ci-b".into(),
        home: ci.home.clone(),
        npub: ci.npub.clone(),
    };
    let roster = write_roster(
        root,
        "roster.json",
        2,
        &[&ci, &ci_b, &offsite],
        Some(&dealer.npub),
    );
    let dealt = root.join("dealt");
    let mut c = passport(&dealer.home);
    c.args(["keygen", "deal", "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&dealt);
    if let Some(f) = split {
        c.arg("--split").arg(f);
    }
    let group = json_ok(c)["group"].as_str().unwrap().to_owned();
    let g = CiGroup { ci, offsite, group };
    for (m, seat) in [(&g.ci, "ci"), (&g.ci, "ci-b"), (&g.offsite, "offsite")] {
        let mut c = passport(&m.home);
        c.args(["keygen", "import", "--roster"])
            .arg(&roster)
            .arg(pkg(&dealt, &format!("dealer-share-{seat}")));
        json_ok(c);
    }
    g
}

/// Commit, request, share, aggregate among `signers`; the event is checked with
/// libsecp256k1.
pub fn sign_files(signers: &[&Member], group: &str, dir: &Path) {
    sign_files_with(signers, group, dir, &|m| passport(&m.home))
}

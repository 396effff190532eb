//! The groups a home knows (`groups/<gid>/group.json` and `state.json`) and the shares
//! it holds of them.

use super::*;

/// Group status in this home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// DKG finished here but not every member has confirmed the same key yet.
    Pending,
    Active,
    /// `group retire` destroyed this home's shares; only the public file remains.
    Retired,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupState {
    pub status: Status,
    /// Seats whose shares this home holds.
    pub seats: BTreeSet<MemberId>,
}

impl Home {
    fn group_dir(&self, gid: &str) -> PathBuf {
        self.root.join("groups").join(gid)
    }

    /// Finds a group by npub, hex key, or a unique prefix of either.
    pub fn find_group(&self, query: &str) -> Result<Group> {
        let gid = match crate::ceremony::roster::parse_npub(query) {
            Ok(pk) => pk.to_hex(),
            Err(_) => {
                let all = self.group_ids()?;
                let hits: Vec<_> = all.iter().filter(|g| g.starts_with(query)).collect();
                match hits.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(Error::NoSuchGroup {
                            query: query.to_owned(),
                        })
                    }
                    _ => {
                        return Err(Error::SeveralGroups {
                            query: query.to_owned(),
                        })
                    }
                }
            }
        };
        let path = self.group_dir(&gid).join("group.json");
        if !path.exists() {
            return Err(Error::UnknownGroup {
                query: query.to_owned(),
            });
        }
        read_group_file(&path)
    }

    pub fn group_ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("groups");
        let mut out = vec![];
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.path().join("group.json").exists() {
                    out.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Saves a group's public file (idempotent; a different group under the same key is
    /// refused).
    /// The one group this home knows; an error naming the choice when there are several.
    pub fn only_group(&self) -> Result<Group> {
        let ids = self.group_ids()?;
        match ids.as_slice() {
            [one] => self.find_group(one),
            [] => Err(Error::NoGroupYet),
            many => Err(Error::ChooseGroup { count: many.len() }),
        }
    }

    pub fn save_group(&self, group: &Group) -> Result<()> {
        if self.check_group(group)? {
            return Ok(());
        }
        let path = self.group_dir(&group.id()).join("group.json");
        Ok(fsutil::write_atomic(
            &path,
            group.to_json_pretty().as_bytes(),
            false,
        )?)
    }

    /// Refuses a group this home holds in another form (same key, other roster or
    /// shares); `true` when it holds this very group already.
    pub fn check_group(&self, group: &Group) -> Result<bool> {
        let path = self.group_dir(&group.id()).join("group.json");
        if !path.exists() {
            return Ok(false);
        }
        let old = read_group_file(&path)?;
        if old.roster != group.roster || old.public_key_package != group.public_key_package {
            return Err(Error::OtherGroupFile {
                npub: group.npub.clone(),
            });
        }
        Ok(true)
    }

    pub fn group_state(&self, group: &Group) -> Result<Option<GroupState>> {
        let path = self.group_dir(&group.id()).join("state.json");
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path, "group state").map(Some)
    }

    pub fn save_group_state(&self, group: &Group, state: &GroupState) -> Result<()> {
        let path = self.group_dir(&group.id()).join("state.json");
        Ok(fsutil::write_atomic(
            &path,
            &serde_json::to_vec_pretty(state).expect("state"),
            true,
        )?)
    }

    pub fn share_name(group: &Group, seat: MemberId) -> String {
        format!("shares/{}.{seat}", group.id())
    }

    /// What a sealed share is bound to: group key, seat, threshold and size.
    pub fn share_context(group: &Group, seat: MemberId) -> String {
        format!(
            "group={};member={seat};t={};n={}",
            group.npub,
            group.roster.threshold,
            group.roster.n()
        )
    }

    /// The binding context of a sealed secret, derived from its name.
    pub fn context_for(&self, name: &str) -> Result<String> {
        let Some(rest) = name.strip_prefix("shares/") else {
            return Ok(String::new());
        };
        let (gid, seat) = rest
            .rsplit_once('.')
            .and_then(|(g, s)| Some((g, s.parse::<MemberId>().ok()?)))
            .ok_or_else(|| keystore::Error::Tampered(name.into()))?;
        let group = self.find_group(gid)?;
        Ok(Self::share_context(&group, seat))
    }

    /// Stores a member's key package for a group. Without `overwrite`, a share already
    /// held is refused.
    pub fn store_share(
        &self,
        group: &Group,
        seat: MemberId,
        key: &KeyPackage,
        overwrite: bool,
    ) -> Result<()> {
        let bytes =
            zeroize::Zeroizing::new(key.serialize().map_err(crate::ceremony::Error::frost)?);
        let ctx = Self::share_context(group, seat);
        self.keystore
            .put_bound(&Self::share_name(group, seat), &ctx, &bytes, overwrite)
            .map_err(|e| match e {
                keystore::Error::Exists { .. } => Error::ShareHeld {
                    member: group.roster.name(seat),
                    npub: group.npub.clone(),
                },
                other => other.into(),
            })
    }

    pub fn share(&self, group: &Group, seat: MemberId) -> Result<KeyPackage> {
        let name = Self::share_name(group, seat);
        let context = Self::share_context(group, seat);
        let blob = self.keystore.sealed(&name).map_err(|e| match e {
            // Name what the operator knows, not the keystore's file name.
            keystore::Error::Missing(_) => Error::ShareGone {
                npub: group.npub.clone(),
                member: group.roster.name(seat),
            },
            other => other.into(),
        })?;
        if let Some(key) = self
            .remembered
            .as_ref()
            .and_then(|r| r.get(&name, &context, &blob))
        {
            return Self::ours(group, seat, key);
        }
        let bytes = self.keystore.unseal_bound(&name, &context, &blob)?;
        let key =
            KeyPackage::deserialize(&bytes).map_err(|_| keystore::Error::Tampered(name.clone()))?;
        let key = Self::ours(group, seat, key)?;
        if let Some(r) = &self.remembered {
            r.put(&name, &context, blob, &key);
        }
        Ok(key)
    }

    /// `key`, if it is `seat`'s share of `group` (checked on every use).
    fn ours(group: &Group, seat: MemberId, key: KeyPackage) -> Result<KeyPackage> {
        let public = &group.public_key_package;
        if key.verifying_key() != public.verifying_key()
            || public.verifying_shares().get(key.identifier()) != Some(key.verifying_share())
        {
            return Err(Error::ForeignShare {
                member: group.roster.name(seat),
                npub: group.npub.clone(),
            });
        }
        Ok(key)
    }

    /// Seats of `group` whose shares this home holds and whose group is active.
    pub fn active_seats(&self, group: &Group) -> Result<Vec<MemberId>> {
        match self.group_state(group)? {
            Some(s) if s.status == Status::Active => Ok(s.seats.into_iter().collect()),
            Some(s) if s.status == Status::Retired => Err(Error::Retired {
                npub: group.npub.clone(),
            }),
            Some(_) => Err(Error::Pending {
                npub: group.npub.clone(),
            }),
            None => Ok(vec![]),
        }
    }
}

//! The database layer: durable settings, readers, schema migrations, statement plans.

use super::*;

#[tokio::test]
async fn readers_see_every_commit_and_cannot_write() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&tmp.path().join("db.sqlite")).expect("open");
    db.call(|c| c.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7)"))
        .await
        .expect("write");
    // More reads at once than readers: each still sees the commit.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..2 * READERS {
        let db = db.clone();
        reads.spawn(async move {
            db.read(|c| c.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0)))
                .await
        });
    }
    while let Some(r) = reads.join_next().await {
        assert_eq!(r.expect("task").expect("read"), 7);
    }
    let refused = db.read(|c| c.execute("INSERT INTO t VALUES (8)", [])).await;
    assert!(refused.is_err(), "a reader wrote: {refused:?}");
}

#[tokio::test]
async fn durable_settings_and_schema_version() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&tmp.path().join("s").join("db.sqlite")).expect("open");
    let (sync, journal, version) = db
        .call(|c| {
            Ok((
                c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0))?,
                c.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))?,
                c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?,
            ))
        })
        .await
        .expect("pragmas");
    assert_eq!(sync, 2, "synchronous=FULL");
    assert_eq!(journal, "wal");
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn version_4_keeps_ceremonies_and_packages_and_keys_by_roster() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("db.sqlite");
    {
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA user_version = 3; COMMIT; \
             INSERT INTO ceremonies VALUES ('s1', 'c1', 'h1', '{{}}', 'agreed', 5); \
             INSERT INTO packages (ceremony_id, event_id, round, sender, seat, to_seat, \
             reference, event, received_at) VALUES ('s1', 'e1', 'dkg-1', 'p', 1, 0, '', \
             '{{}}', 6);"
        ))
        .expect("v3 schema with a ceremony");
    }
    let db = Db::open(&path).expect("open");
    let (version, kept, second, orphan, fk) = db
        .call(|c| {
            let version = c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
            let kept = c.query_row(
                "SELECT state || count(*) FROM ceremonies JOIN packages \
                 ON packages.ceremony_id = ceremonies.id WHERE ceremonies.id = 's1'",
                [],
                |r| r.get::<_, String>(0),
            )?;
            // Same ceremony id, another roster: allowed now; the same pair is not.
            let second = c.execute(
                "INSERT INTO ceremonies VALUES ('s2', 'c1', 'h2', '{}', 'open', 7)",
                [],
            )?;
            let dup = c
                .execute(
                    "INSERT INTO ceremonies VALUES ('s3', 'c1', 'h2', '{}', 'open', 7)",
                    [],
                )
                .is_err();
            assert!(dup, "(ceremony, roster_hash) is unique");
            // Foreign keys still hold after the rebuild.
            let orphan = c
                .execute(
                    "INSERT INTO packages (ceremony_id, event_id, round, sender, seat, \
                     to_seat, reference, event, received_at) \
                     VALUES ('nope', 'e2', 'dkg-1', 'p', 1, 0, '', '{}', 6)",
                    [],
                )
                .is_err();
            let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
            Ok((version, kept, second, orphan, fk))
        })
        .await
        .expect("query");
    assert_eq!(version, 4);
    assert_eq!(kept, "agreed1");
    assert_eq!(second, 1);
    assert!(orphan, "a package for no ceremony is refused");
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("db.sqlite");
    drop(Db::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("raw open");
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump");
    drop(conn);
    let e = Db::open(&path).err().expect("refused");
    assert!(e.to_string().contains("upgrade passport"), "{e}");
}

#[tokio::test]
async fn replay_cache_remembers_until_expiry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&tmp.path().join("db.sqlite")).expect("open");
    let seen = |now, exp| {
        let db = db.clone();
        async move {
            db.call(move |c| remember_auth(c, "e1", now, exp))
                .await
                .expect("remember")
        }
    };
    assert!(seen(100, 160).await);
    assert!(!seen(150, 210).await);
    // Past its expiry the entry is pruned (the auth window refuses such events anyway).
    assert!(seen(161, 221).await);
}

#[tokio::test]
async fn cached_statements_are_not_compiled_again_for_new_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(&tmp.path().join("db.sqlite")).unwrap();
    db.call(|c| {
        c.execute_batch("CREATE TABLE t (k TEXT, v INTEGER); CREATE INDEX t_k ON t (k, v)")
    })
    .await
    .unwrap();
    const Q: &str = "SELECT v FROM t WHERE k = ?1 AND v > ?2 ORDER BY v LIMIT ?3";
    fn look(c: &Connection, i: i64) -> rusqlite::Result<i32> {
        let mut s = c.prepare_cached(Q)?;
        let _: Vec<i64> = s
            .query_map(params!["a", i - 3, 10], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(s.get_status(rusqlite::StatementStatus::RePrepare))
    }
    let (mut reader, mut writer) = (0, 0);
    for i in 0..20 {
        db.relaxed(move |c| {
            c.execute("INSERT INTO t VALUES ('a', ?1)", [i])
                .map(|_| ((), true))
        })
        .await
        .unwrap();
        reader = db.read(move |c| look(c, i)).await.unwrap();
        writer = db.call(move |c| look(c, i)).await.unwrap();
    }
    // Without the planner guarantee both were 20: one compile per execution.
    assert_eq!((reader, writer), (0, 0));
}

//! The PostgreSQL lock: a session advisory lock (`pg_try_advisory_lock(k1, k2)`, keys
//! from the schema and workspace) on the backend's one connection, plus a `locks` row
//! saying who holds it. The session lock is what excludes; the row is what a second
//! writer and `force-unlock` are shown. A killed holder's session ends, freeing the lock;
//! its row stays until the next holder replaces it (or `force-unlock` removes it).
//!
//! A transaction-pooling proxy would hand each statement to some server session, so a
//! session lock would guard nothing. It is refused: before locking, this session must not
//! hold the lock already (another client's session); after, the lock must be visible in
//! `pg_locks` for `pg_backend_pid()` (the same session).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{PgBackend, PgError};
use crate::state::error::StateError;
use crate::state::lock::{ForceUnlocked, LockInfo, POLL};

/// The two int4 advisory-lock keys of a schema's workspace (non-negative, so `pg_locks`
/// shows them as they are).
pub(super) fn keys(schema: &str, workspace: &str) -> (i32, i32) {
    let key = |text: String| {
        let digest = Sha256::digest(text.as_bytes());
        i32::from_be_bytes([digest[0] & 0x7f, digest[1], digest[2], digest[3]])
    };
    (key(format!("tokenform/{schema}")), key(format!("tokenform/{schema}/{workspace}")))
}

/// The transaction advisory-lock key serializing schema creation.
pub(super) fn setup_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("tokenform-setup/{schema}").as_bytes());
    i64::from_be_bytes([
        digest[0] & 0x7f,
        digest[1],
        digest[2],
        digest[3],
        digest[4],
        digest[5],
        digest[6],
        digest[7],
    ])
}

/// How many times the new lock must be seen from the session answering.
const VISIBILITY_PROBES: usize = 4;

/// `pg_locks` rows of our advisory lock (`$1`, `$2` the keys as bigint).
const HOLDERS: &str = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = $1 \
                       AND objid::bigint = $2 AND objsubid = 2 AND granted";

/// Takes the lock for `holder`, polling until `timeout`; then records the holder.
pub(super) fn acquire(b: &PgBackend, holder: &LockInfo, timeout: Duration) -> Result<(), StateError> {
    let (k1, k2) = keys(&b.tables.schema, &b.workspace);
    let (c1, c2) = (i64::from(k1), i64::from(k2));
    let ours_already = b.call("checking the session's locks", move |c, _, _| async move {
        let mine = format!("{HOLDERS} AND pid = pg_backend_pid()");
        Ok(c.query_opt(&mine, &[&c1, &c2]).await?.is_some())
    })?;
    if ours_already {
        return Err(pooled(
            b,
            "this new session already holds tokenform's lock, so it is shared with another client",
        ));
    }
    let deadline = Instant::now() + timeout;
    loop {
        let got = b.call("taking the lock", move |c, _, _| async move {
            Ok(c.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&k1, &k2]).await?.get::<_, bool>(0))
        })?;
        if got {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StateError::Locked {
                backend: format!("the lock of {}", super::Backend::describe(b)),
                info: Box::new(holder_info(b)?),
            });
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
    // Several round trips: a pooler that spreads statements over its server sessions
    // answers some of them from a session that does not hold the lock.
    let visible = b.call("checking the lock", move |c, _, _| async move {
        let mine = c.prepare(&format!("{HOLDERS} AND pid = pg_backend_pid()")).await?;
        for _ in 0..VISIBILITY_PROBES {
            if c.query_opt(&mine, &[&c1, &c2]).await?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    if !visible {
        return Err(pooled(b, "the lock just taken is not held by the session answering the next statement"));
    }
    let h = holder.clone();
    b.call("recording the lock holder", move |c, t, ws| async move {
        c.execute(
            &format!(
                "INSERT INTO {} (workspace, id, who, operation, created, version, path, backend_pid) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, pg_backend_pid()) \
                 ON CONFLICT (workspace) DO UPDATE SET id = $2, who = $3, operation = $4, created = $5, \
                 version = $6, path = $7, backend_pid = pg_backend_pid()",
                t.t("locks")
            ),
            &[&ws, &h.id, &h.who, &h.operation, &h.created.to_string(), &h.version, &h.path],
        )
        .await
    })?;
    Ok(())
}

/// Refuses a connection whose statements do not all run in one server session. A second
/// connection opens a transaction (a pooler must then keep a server session for it);
/// our connection's next statement must not wait for it, nor run in its session, and
/// our session must stay the same while that one goes back to the pool. Whatever order
/// a pooler hands idle sessions out in, one of these sees two sessions.
pub(super) fn probe_pooling(b: &PgBackend) -> Result<(), StateError> {
    let connector = b.connector.clone();
    let verdict = b.call("checking for a pooling proxy", move |main, _, _| async move {
        let helper = match connector.connect(Arc::new(Mutex::new(None))).await {
            Some(Ok(helper)) => helper,
            Some(Err(e)) => return Err(e),
            None => return Ok(Some("a second connection did not open in time".to_owned())),
        };
        helper.batch_execute("BEGIN").await?;
        let theirs = backend_pid(&helper).await?;
        let Ok(first) = tokio::time::timeout(PROBE_WAIT, backend_pid(&main)).await else {
            return Ok(Some("a statement waited for another client's open transaction".to_owned()));
        };
        let first = first?;
        if first == theirs {
            return Ok(Some("two connections were served by one server session".to_owned()));
        }
        helper.batch_execute("COMMIT").await?;
        for _ in 0..3 {
            if backend_pid(&main).await? != first {
                return Ok(Some("consecutive statements ran in different server sessions".to_owned()));
            }
        }
        drop(helper);
        Ok(None)
    })?;
    match verdict {
        Some(why) => Err(pooled(b, &why)),
        None => Ok(()),
    }
}

/// How long the probe lets a statement wait before calling it queued behind another client.
const PROBE_WAIT: Duration = Duration::from_secs(3);

/// `pg_backend_pid()` as a simple query (no prepared statement a pooler could lose).
async fn backend_pid(c: &tokio_postgres::Client) -> Result<String, tokio_postgres::Error> {
    for message in c.simple_query("SELECT pg_backend_pid()").await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            return Ok(row.get(0).unwrap_or_default().to_owned());
        }
    }
    Ok(String::new())
}

fn pooled(b: &PgBackend, why: &str) -> StateError {
    super::pg_err(PgError::Pooled { target: b.target.clone(), why: why.to_owned() })
}

/// The session holding the advisory lock (its backend pid), if any.
fn holder_pid(b: &PgBackend) -> Result<Option<i32>, StateError> {
    let (k1, k2) = keys(&b.tables.schema, &b.workspace);
    let (c1, c2) = (i64::from(k1), i64::from(k2));
    b.call("finding the lock holder", move |c, _, _| async move {
        Ok(c.query_opt(HOLDERS, &[&c1, &c2]).await?.map(|r| r.get::<_, i32>(0)))
    })
}

/// The recorded holder row, with the backend pid it was taken on.
fn lock_row(b: &PgBackend) -> Result<Option<(LockInfo, i32)>, StateError> {
    b.call("reading the lock holder", |c, t, ws| async move {
        let row = c
            .query_opt(
                &format!(
                    "SELECT id, who, operation, created, version, path, backend_pid FROM {} WHERE workspace = $1",
                    t.t("locks")
                ),
                &[&ws],
            )
            .await?;
        Ok(row.map(|r| {
            let created: String = r.get(3);
            let info = LockInfo {
                id: r.get(0),
                who: r.get(1),
                operation: r.get(2),
                created: created.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                version: r.get(4),
                path: r.get(5),
            };
            (info, r.get::<_, i32>(6))
        }))
    })
}

/// The Lock Info of the current holder. A row written on another session than the one
/// holding the lock is a killed holder's: the new holder has not recorded itself yet.
fn holder_info(b: &PgBackend) -> Result<LockInfo, StateError> {
    let pid = holder_pid(b)?;
    match (lock_row(b)?, pid) {
        (Some((info, row_pid)), Some(pid)) if row_pid == pid => Ok(info),
        (_, pid) => Ok(LockInfo {
            id: String::new(),
            who: pid.map_or_else(
                || "unknown (the lock was just released)".to_owned(),
                |p| format!("unknown (PostgreSQL session {p}, which has not recorded itself yet)"),
            ),
            operation: "unknown".to_owned(),
            created: jiff::Timestamp::now(),
            version: String::new(),
            path: format!("{} schema {} workspace {}", b.target, b.tables.schema, b.workspace),
        }),
    }
}

/// Removes the holder row `id` when no session holds the lock any more.
pub(super) fn force_unlock(b: &PgBackend, id: &str) -> Result<ForceUnlocked, StateError> {
    let row = lock_row(b)?;
    let pid = holder_pid(b)?;
    let Some((info, row_pid)) = row else {
        return match pid {
            None => Ok(ForceUnlocked::NotLocked),
            Some(_) => Err(StateError::LockOwnerAlive {
                info: Box::new(holder_info(b)?),
                why: "a session holds the lock but has not recorded itself yet".into(),
            }),
        };
    };
    if info.id != id {
        return Err(StateError::LockIdMismatch { given: id.to_owned(), info: Box::new(info) });
    }
    if let Some(pid) = pid {
        let why = if pid == row_pid {
            format!(
                "its PostgreSQL session {pid} is still connected (the run is alive, or its connection \
                 has not timed out yet); an administrator can end it with SELECT pg_terminate_backend({pid})"
            )
        } else {
            format!("PostgreSQL session {pid} holds the lock now")
        };
        return Err(StateError::LockOwnerAlive { info: Box::new(info), why });
    }
    let id = id.to_owned();
    b.call("removing the lock record", move |c, t, ws| async move {
        c.execute(&format!("DELETE FROM {} WHERE workspace = $1 AND id = $2", t.t("locks")), &[&ws, &id])
            .await
    })?;
    Ok(ForceUnlocked::Removed {
        info: Some(info),
        note: "no PostgreSQL session held the lock any more (its holder exited or was killed)".into(),
    })
}

/// Deletes our holder row and releases the session lock; errors are ignored (a closed
/// connection has released the lock already).
pub(super) fn release(b: &PgBackend, id: &str) {
    if b.lost.lock().map_or(true, |l| l.is_some()) {
        return;
    }
    let (k1, k2) = keys(&b.tables.schema, &b.workspace);
    let (id, client, locks, ws) = (id.to_owned(), b.client.clone(), b.tables.t("locks"), b.workspace.clone());
    // Bounded well below the op timeout: a command must not hang at exit on a dead network.
    let _ = b.bridge.run(super::with_timeout(RELEASE_WAIT, async move {
        client.execute(&format!("DELETE FROM {locks} WHERE workspace = $1 AND id = $2"), &[&ws, &id]).await?;
        client.execute("SELECT pg_advisory_unlock($1, $2)", &[&k1, &k2]).await
    }));
}

/// How long a command waits at exit to remove its lock row (the session lock goes anyway).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

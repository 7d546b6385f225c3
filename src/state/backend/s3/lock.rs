//! The S3 lock: the object `KEY.lock`, whose body is the holder's [`LockInfo`] plus its
//! lease. Taken with `If-None-Match: *` (no lock object yet) or `If-Match` on the ETag of
//! a released or lapsed one, so of two runs racing for it exactly one wins. The holder
//! renews it (`If-Match` on its own last ETag) every third of the lease; a run killed
//! with SIGKILL stops renewing, and once a whole lease has passed since the last renewal
//! (by the store's clock: `Last-Modified`, compared with the probe object's) the next run,
//! on any machine, takes it over. Release is a conditional overwrite with a `released`
//! body: S3 has no conditional DELETE, and a plain DELETE after a check could remove the
//! lock a new holder just took.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{Attributes, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use super::error::{Kind, S3Error, classify};
use super::{S3Backend, fetch, s3_err};
use crate::state::error::StateError;
use crate::state::lock::{ForceUnlocked, LockInfo};

/// The body of `KEY.lock`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct LockBody {
    #[serde(flatten)]
    pub info: LockInfo,
    /// When the holder last renewed it (its own clock; for people).
    pub renewed: jiff::Timestamp,
    /// How long after its last renewal the lock lapses.
    pub lease_seconds: u64,
    /// Set when the holder released it: free for the next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<jiff::Timestamp>,
}

/// The lock as this run holds it (shared with the renewal task).
#[derive(Debug)]
pub(super) struct Held {
    etag: String,
    body: LockBody,
    released: bool,
}

/// How often a waiting run looks at the lock again.
const POLL: Duration = Duration::from_millis(250);

/// How many refused conditional PUTs of a free lock are retried.
const MAX_CONFLICTS: u32 = 5;

/// Slack on top of a lease for `Last-Modified`'s one-second resolution.
const SLACK: Duration = Duration::from_secs(1);

/// How long a command waits at exit to release its lock (it lapses anyway).
const RELEASE_WAIT: Duration = Duration::from_secs(5);

fn lock_path(b: &S3Backend) -> Path {
    b.path(".lock")
}

fn body_bytes(body: &LockBody) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec_pretty(body).map_err(|e| StateError::Serialize { message: e.to_string() })
}

/// The store's clock minus ours (whole seconds), measured by the probe.
#[derive(Debug, Clone, Copy)]
struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// How long ago, by the store's clock, `last_modified` was.
    fn age(self, last_modified: jiff::Timestamp) -> Duration {
        let now = jiff::Timestamp::now().as_millisecond() + self.offset_ms;
        let ms = now - last_modified.as_millisecond();
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

/// Checks that the store honours conditional PUTs (see the module docs of [`super`]) and
/// reads its clock. A fresh key each time, deleted afterwards.
fn probe(b: &S3Backend) -> Result<Clock, StateError> {
    let path = b.path(&format!(".probe/{}", uuid::Uuid::new_v4()));
    let refuse = |why: &str| s3_err(S3Error::Unconditional { target: b.target.clone(), why: why.to_owned() });
    let action = "probing the store's conditional writes";
    let first = b.put(path.clone(), b"probe 1".to_vec(), PutMode::Create, Attributes::new());
    let e1 = match first {
        Ok(Some(etag)) => etag,
        Ok(None) => return Err(refuse("a PUT answered without an ETag")),
        Err(e) if classify(&e).0 == Kind::Exists => {
            return Err(refuse("a PUT with If-None-Match: * of a new key answered 412"));
        }
        Err(e) => return Err(b.fail(action, &e)),
    };
    let verdict = (|| {
        match b.put(path.clone(), b"probe 2".to_vec(), PutMode::Create, Attributes::new()) {
            Ok(_) => {
                return Err(refuse(
                    "a second PUT with If-None-Match: * of the same key answered 200, not 412",
                ));
            }
            Err(e) if classify(&e).0 == Kind::Exists => {}
            Err(e) => return Err(b.fail(action, &e)),
        }
        let update =
            |etag: &str| PutMode::Update(UpdateVersion { e_tag: Some(etag.to_owned()), version: None });
        match b.put(path.clone(), b"probe 3".to_vec(), update(&e1), Attributes::new()) {
            Ok(Some(e2)) if e2 != e1 => {}
            Ok(_) => return Err(refuse("a PUT with If-Match did not give the object a new ETag")),
            Err(e) if classify(&e).0 == Kind::Precondition => {
                return Err(refuse("a PUT with If-Match on the current ETag answered 412"));
            }
            Err(e) => return Err(b.fail(action, &e)),
        }
        match b.put(path.clone(), b"probe 4".to_vec(), update(&e1), Attributes::new()) {
            Ok(_) => Err(refuse("a PUT with a stale If-Match answered 200, not 412")),
            Err(e) if classify(&e).0 == Kind::Precondition => Ok(()),
            Err(e) => Err(b.fail(action, &e)),
        }
    })();
    let store = b.store.clone();
    let probe_path = path.clone();
    let head = b.call(async move { store.head(&probe_path).await });
    b.delete_all(vec![path]);
    verdict?;
    let meta = head.map_err(|e| b.fail(action, &e))?;
    let server_ms = meta.last_modified.timestamp_millis();
    Ok(Clock { offset_ms: server_ms - jiff::Timestamp::now().as_millisecond() })
}

/// Takes the lock for `holder` (probing the store first), polling until `timeout`.
pub(super) fn acquire(b: &mut S3Backend, holder: &LockInfo, timeout: Duration) -> Result<(), StateError> {
    let clock = probe(b)?;
    let deadline = Instant::now() + timeout;
    let path = lock_path(b);
    let lease_seconds = b.lease.as_secs();
    // The ETag last seen on a held lock, and since when (our monotonic clock).
    let mut watched: Option<(String, Instant)> = None;
    // Lost races for a lock that then looked free: a store answering 409
    // ConditionalRequestConflict to concurrent conditional PUTs. Re-read and retry, a few times.
    let mut conflicts = 0u32;
    loop {
        let body =
            LockBody { info: holder.clone(), renewed: jiff::Timestamp::now(), lease_seconds, released: None };
        let bytes = body_bytes(&body)?;
        let found = b.fetch(path.clone(), "reading the lock")?;
        let mode = match &found {
            None => PutMode::Create,
            Some(object) => {
                let etag = object.etag.clone().ok_or_else(|| {
                    b.foreign(
                        "the lock object",
                        "has no ETag",
                        "this store cannot hold a lock; use another store",
                    )
                })?;
                let theirs: LockBody = serde_json::from_slice(&object.bytes).map_err(|_| {
                    b.foreign(
                        "the lock object",
                        "is not a tokenform lock",
                        &format!(
                            "if no tokenform run uses this state, delete s3://{}/{}.lock",
                            b.bucket, b.key
                        ),
                    )
                })?;
                if theirs.info.id == holder.id {
                    // Our own create, whose answer was lost and whose retry found it.
                    hold(b, etag, theirs);
                    return Ok(());
                }
                let age = clock.age(object.last_modified);
                let unchanged = match &watched {
                    Some((e, since)) if *e == etag => since.elapsed(),
                    _ => {
                        watched = Some((etag.clone(), Instant::now()));
                        Duration::ZERO
                    }
                };
                let lease = Duration::from_secs(theirs.lease_seconds);
                let lapsed = age > lease + SLACK || unchanged > lease + SLACK;
                if theirs.released.is_none() && !lapsed {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(StateError::Locked {
                            backend: format!(
                                "the lock object s3://{}/{}.lock (renewed {} s ago; a holder that stops \
                                 renewing it loses it {} s after the last renewal)",
                                b.bucket,
                                b.key,
                                age.as_secs(),
                                theirs.lease_seconds
                            ),
                            info: Box::new(theirs.info),
                        });
                    }
                    std::thread::sleep(POLL.min(deadline - now));
                    continue;
                }
                PutMode::Update(UpdateVersion { e_tag: Some(etag), version: None })
            }
        };
        match b.put(path.clone(), bytes, mode, Attributes::new()) {
            Ok(Some(etag)) => {
                hold(b, etag, body);
                return Ok(());
            }
            Ok(None) => {
                return Err(b.foreign(
                    "the lock object",
                    "was stored without an ETag",
                    "this store cannot hold a lock",
                ));
            }
            // Someone else got there first (or our retried request did): look again.
            Err(e) if matches!(classify(&e).0, Kind::Exists | Kind::Precondition) => {
                conflicts += 1;
                if conflicts > MAX_CONFLICTS {
                    return Err(s3_err(S3Error::Server {
                        target: b.target.clone(),
                        action: "taking the lock".into(),
                        why: format!(
                            "{conflicts} conditional PUTs of the lock object were refused ({}) although \
                             it was free or lapsed each time",
                            classify(&e).1
                        ),
                    }));
                }
                std::thread::sleep(POLL * conflicts);
            }
            Err(e) => return Err(b.fail("taking the lock", &e)),
        }
    }
}

/// Records the held lock and starts renewing it.
fn hold(b: &mut S3Backend, etag: String, body: LockBody) {
    let held = Arc::new(tokio::sync::Mutex::new(Held { etag, body, released: false }));
    b.held = Some(held.clone());
    b.bridge.spawn(renew(b.store.clone(), lock_path(b), held, b.lost.clone(), b.lease));
}

/// Renews the lock every third of `lease` until released; on a takeover, or when no
/// renewal succeeded for a whole lease, records in `lost` why and stops.
async fn renew(
    store: Arc<object_store::aws::AmazonS3>,
    path: Path,
    held: Arc<tokio::sync::Mutex<Held>>,
    lost: Arc<Mutex<Option<String>>>,
    lease: Duration,
) {
    let every = lease / 3;
    let mut last_ok = Instant::now();
    let set_lost = |why: String| {
        if let Ok(mut slot) = lost.lock() {
            *slot = Some(why);
        }
    };
    loop {
        tokio::time::sleep(every).await;
        let mut h = held.lock().await;
        if h.released {
            return;
        }
        let mut body = h.body.clone();
        body.renewed = jiff::Timestamp::now();
        let Ok(bytes) = serde_json::to_vec_pretty(&body) else { return };
        let mode = PutMode::Update(UpdateVersion { e_tag: Some(h.etag.clone()), version: None });
        let opts = PutOptions { mode, ..PutOptions::default() };
        let put =
            tokio::time::timeout(every, store.put_opts(&path, PutPayload::from(bytes.clone()), opts)).await;
        match put {
            Ok(Ok(result)) if result.e_tag.is_some() => {
                h.etag = result.e_tag.unwrap_or_default();
                h.body = body;
                last_ok = Instant::now();
            }
            Ok(Err(e)) if classify(&e).0 == Kind::Precondition => {
                // Our own retried renewal, or a takeover.
                match fetch(store.clone(), path.clone()).await {
                    Ok(Some(o)) if o.bytes == bytes => {
                        h.etag = o.etag.unwrap_or_default();
                        h.body = body;
                        last_ok = Instant::now();
                    }
                    _ => {
                        set_lost(format!(
                            "another run took it over (it was not renewed within its lease of {} s)",
                            lease.as_secs()
                        ));
                        return;
                    }
                }
            }
            other => {
                if last_ok.elapsed() >= lease {
                    let why = match other {
                        Ok(Err(e)) => classify(&e).1,
                        Ok(Ok(_)) => "the store answered without an ETag".to_owned(),
                        Err(_) => "the store did not answer".to_owned(),
                    };
                    set_lost(format!("it could not be renewed for {} s: {why}", lease.as_secs()));
                    return;
                }
            }
        }
    }
}

/// Releases the lock: a conditional overwrite with a `released` body. Errors are ignored
/// (the lock lapses after its lease anyway).
pub(super) fn release(b: &S3Backend, held: &Arc<tokio::sync::Mutex<Held>>) {
    if b.lost.lock().map_or(true, |l| l.is_some()) {
        return;
    }
    let (store, path, held) = (b.store.clone(), lock_path(b), held.clone());
    let _ = b.bridge.run(async move {
        tokio::time::timeout(RELEASE_WAIT, async move {
            let mut h = held.lock().await;
            h.released = true;
            let mut body = h.body.clone();
            body.released = Some(jiff::Timestamp::now());
            let Ok(bytes) = serde_json::to_vec_pretty(&body) else { return };
            let mode = PutMode::Update(UpdateVersion { e_tag: Some(h.etag.clone()), version: None });
            let _ = store
                .put_opts(&path, PutPayload::from(bytes), PutOptions { mode, ..PutOptions::default() })
                .await;
        })
        .await
    });
}

/// Releases the lock `id` when its holder stopped renewing it (its run is gone).
pub(super) fn force_unlock(b: &mut S3Backend, id: &str) -> Result<ForceUnlocked, StateError> {
    let clock = probe(b)?;
    let path = lock_path(b);
    let Some(object) = b.fetch(path.clone(), "reading the lock")? else {
        return Ok(ForceUnlocked::NotLocked);
    };
    let Ok(mut body) = serde_json::from_slice::<LockBody>(&object.bytes) else {
        return Err(b.foreign(
            "the lock object",
            "is not a tokenform lock",
            &format!("if no tokenform run uses this state, delete s3://{}/{}.lock", b.bucket, b.key),
        ));
    };
    if body.released.is_some() {
        return Ok(ForceUnlocked::NotLocked);
    }
    if body.info.id != id {
        return Err(StateError::LockIdMismatch { given: id.to_owned(), info: Box::new(body.info) });
    }
    let age = clock.age(object.last_modified);
    let lease = Duration::from_secs(body.lease_seconds);
    if age <= lease + SLACK {
        return Err(StateError::LockOwnerAlive {
            info: Box::new(body.info),
            why: format!(
                "its holder renewed it {} s ago (a running holder renews it every {} s); if that \
                 run is gone, the lock lapses {} s after its last renewal: retry then",
                age.as_secs(),
                (lease / 3).as_secs().max(1),
                body.lease_seconds
            ),
        });
    }
    let info = body.info.clone();
    body.released = Some(jiff::Timestamp::now());
    let mode = PutMode::Update(UpdateVersion { e_tag: object.etag.clone(), version: None });
    match b.put(path, body_bytes(&body)?, mode, Attributes::new()) {
        Ok(_) => Ok(ForceUnlocked::Removed {
            info: Some(info),
            note: format!(
                "it had not been renewed for {} s (its lease is {} s), so its holder is gone; \
                 released with a conditional overwrite",
                age.as_secs(),
                body.lease_seconds
            ),
        }),
        Err(e) if classify(&e).0 == Kind::Precondition => Err(StateError::LockOwnerAlive {
            info: Box::new(info),
            why: "the lock was renewed or taken over while it was checked".into(),
        }),
        Err(e) => Err(b.fail("releasing the lock", &e)),
    }
}

//! The S3 backend: the state and everything around it as objects beside the configured
//! key, in S3 or an S3-compatible store, every write a conditional PUT.
//!
//! | object | written with |
//! | --- | --- |
//! | `KEY`: the state document | `If-None-Match: *` (first save), then `If-Match: <ETag read>` |
//! | `KEY.lock`: the holder's Lock Info and lease | `If-None-Match: *`, or `If-Match` on a released or lapsed lock; renewed with `If-Match` |
//! | `KEY.journal/SERIAL/N`: journal record batch N on top of SERIAL | `If-None-Match: *` |
//! | `KEY.previous/SERIAL`: the document SERIAL, kept when it is replaced | plain PUT (immutable content) |
//! | `KEY.probe/UUID`: the capability probe | `If-None-Match: *` twice, then `If-Match` |
//!
//! The state object carries its serial, lineage and the serials of the last
//! [`super::PREVIOUS`] versions as user metadata (`x-amz-meta-tokenform-*`), so the
//! backend never parses an (age-encrypted) document: a reader GETs `KEY`, then
//! `KEY.journal/SERIAL/1`, `/2`, … until one is missing (no LIST, which is neither
//! consistent with the PUTs nor allowed by every policy).
//!
//! A lost race is an error, never an overwrite: `If-Match` on the ETag read fails once
//! anyone else saved, and a journal record slot can be created once only. S3 has no
//! conditional DELETE, so the lock is never deleted: release is a conditional overwrite
//! with a `released` body, and the next holder takes that over with `If-Match` on its
//! ETag. A holder renews its lock every third of its lease; a lock not renewed for a whole
//! lease (its run was killed) may be taken over by the next run, from any machine.
//!
//! Before the first write of a command the store is probed: two `If-None-Match: *` PUTs of
//! a fresh key must answer 200 then 412, and a stale `If-Match` must fail; a store that
//! accepts them all (it ignores the conditions) is refused, since it would give no lock.
//!
//! The client (object_store, over the project's reqwest + rustls) retries 5xx and
//! throttling answers with backoff, a bounded number of times. A conditional PUT retried
//! after a lost answer may find its own first attempt: a 412 is then re-read and counts as
//! success when the stored bytes are the ones sent. Credentials come in through
//! [`BackendEnv`] only (the standard `AWS_*` variables); no message holds one.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, RetryConfig, UpdateVersion,
};

use crate::state::backend::bridge::Bridge;
use crate::state::backend::{Backend, BackendEnv, Document, PREVIOUS, Stored, Version};
use crate::state::error::StateError;
use crate::state::journal::{JournalContents, JournalHeader, JournalLine};
use crate::state::lock::{ForceUnlocked, LockInfo};
use crate::state::settings::S3Settings;

mod error;
mod lock;
pub mod names;

pub use error::S3Error;
use error::{Kind, classify};

/// The longest one request (with its retries) may take before the command gives up.
const OP_TIMEOUT: Duration = Duration::from_mins(1);

/// User metadata on the state object.
const META_SERIAL: &str = "tokenform-serial";
const META_LINEAGE: &str = "tokenform-lineage";
const META_PREVIOUS: &str = "tokenform-previous";

/// How many times a PUT answered 409 ConditionalRequestConflict is retried.
const CONFLICT_RETRIES: u32 = 4;

/// How many journal objects a reader fetches at once.
const JOURNAL_WINDOW: u64 = 16;

/// The state under one key of one bucket.
#[derive(Debug)]
pub struct S3Backend {
    bridge: Bridge,
    store: Arc<AmazonS3>,
    bucket: String,
    key: String,
    /// `s3://bucket/key` (and the endpoint, when not AWS), for messages.
    target: String,
    lease: Duration,
    /// The document read or last written, with its ETag.
    current: Option<Current>,
    journal: Cursor,
    /// The held lock, shared with its renewal task.
    held: Option<Arc<tokio::sync::Mutex<lock::Held>>>,
    /// Why the lock was lost, once it has been (set by the renewal task).
    lost: Arc<Mutex<Option<String>>>,
}

/// The stored document as this backend last saw it.
#[derive(Debug, Clone)]
struct Current {
    etag: String,
    bytes: Vec<u8>,
    serial: u64,
    /// Serials of the kept previous versions, newest first.
    previous: Vec<u64>,
}

/// Where the journal of the stored serial stands.
#[derive(Debug, Default)]
struct Cursor {
    base: u64,
    /// Record batches 1 ..= `count` exist.
    count: u64,
}

/// One fetched object.
#[derive(Debug)]
struct Object {
    bytes: Vec<u8>,
    etag: Option<String>,
    attributes: Attributes,
    last_modified: jiff::Timestamp,
}

impl S3Backend {
    /// The backend of `settings`, with the credentials in `env`. Sends nothing.
    pub fn connect(settings: &S3Settings, env: &BackendEnv) -> Result<Self, StateError> {
        let target = match &settings.endpoint {
            Some(e) => format!("s3://{}/{} at {e}", settings.bucket, settings.key),
            None => format!("s3://{}/{}", settings.bucket, settings.key),
        };
        let access = env.var("AWS_ACCESS_KEY_ID");
        let secret = env.var("AWS_SECRET_ACCESS_KEY");
        let missing = match (access.is_some(), secret.is_some()) {
            (true, true) => None,
            (false, true) => Some("AWS_ACCESS_KEY_ID is"),
            (true, false) => Some("AWS_SECRET_ACCESS_KEY is"),
            (false, false) => Some("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are"),
        };
        let (Some(access), Some(secret), None) = (access, secret, missing) else {
            return Err(s3_err(S3Error::NoCredentials {
                target,
                missing: missing.unwrap_or_default().to_owned(),
            }));
        };
        let bad = |why: String| {
            s3_err(S3Error::Request { target: target.clone(), action: "setting up the client".into(), why })
        };
        let region = if let Some(r) = settings.region.clone() {
            r
        } else {
            let from_env = env.var("AWS_REGION").or_else(|| env.var("AWS_DEFAULT_REGION"));
            let r = from_env.map_or_else(|| "us-east-1".to_owned(), |r| r.expose().to_owned());
            names::check_region(&r).map_err(|why| bad(format!("AWS_REGION: {why}")))?;
            r
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&region)
            .with_access_key_id(access.expose())
            .with_secret_access_key(secret.expose())
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 4,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(30)),
            );
        if let Some(token) = env.var("AWS_SESSION_TOKEN") {
            builder = builder.with_token(token.expose());
        }
        if let Some(endpoint) = &settings.endpoint {
            let endpoint = names::check_endpoint(endpoint).map_err(&bad)?;
            builder = builder.with_allow_http(endpoint.starts_with("http://")).with_endpoint(endpoint);
        }
        let store = builder.build().map_err(|e| bad(error::classify(&e).1))?;
        let bridge =
            Bridge::new("tokenform-s3").map_err(StateError::io("start the S3 client for", &target))?;
        Ok(Self {
            bridge,
            store: Arc::new(store),
            bucket: settings.bucket.clone(),
            key: settings.key.clone(),
            target,
            lease: settings.lock_lease,
            current: None,
            journal: Cursor::default(),
            held: None,
            lost: Arc::new(Mutex::new(None)),
        })
    }

    fn path(&self, suffix: &str) -> Path {
        Path::from(format!("{}{suffix}", self.key))
    }

    fn journal_path(&self, base: u64, seq: u64) -> Path {
        self.path(&format!(".journal/{base}/{seq}"))
    }

    fn version_path(&self, serial: u64) -> Path {
        self.path(&format!(".previous/{serial}"))
    }

    /// Runs `future` on the bridge, bounded by [`OP_TIMEOUT`].
    fn call<T, Fut>(&self, future: Fut) -> Result<T, object_store::Error>
    where
        Fut: Future<Output = Result<T, object_store::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let generic = |why: String| object_store::Error::Generic { store: "S3", source: why.into() };
        // The timer is made inside the future: it must belong to the bridge's runtime.
        match self.bridge.run(async move { tokio::time::timeout(OP_TIMEOUT, future).await }) {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(generic(format!("no answer within {} s", OP_TIMEOUT.as_secs()))),
            Err(stopped) => Err(generic(stopped.to_string())),
        }
    }

    /// The error for a failed request while `action`.
    fn fail(&self, action: &str, err: &object_store::Error) -> StateError {
        let (kind, why) = classify(err);
        let (target, action) = (self.target.clone(), action.to_owned());
        s3_err(match kind {
            Kind::NoBucket => S3Error::NoBucket { target, bucket: self.bucket.clone() },
            Kind::Denied => {
                S3Error::Denied { target, bucket: self.bucket.clone(), key: self.key.clone(), action, why }
            }
            Kind::Server => S3Error::Server { target, action, why },
            Kind::Conflict => S3Error::Server {
                target,
                action,
                why: format!("{why} (retried {CONFLICT_RETRIES} times with backoff)"),
            },
            Kind::Network => S3Error::Unreachable { target, action, why },
            _ => S3Error::Request { target, action, why },
        })
    }

    fn foreign(&self, what: &str, why: &str, help: &str) -> StateError {
        s3_err(S3Error::Foreign {
            target: self.target.clone(),
            what: what.to_owned(),
            why: why.to_owned(),
            help: help.to_owned(),
        })
    }

    /// GETs `path`; `None` when there is no such object.
    fn fetch(&self, path: Path, action: &str) -> Result<Option<Object>, StateError> {
        let store = self.store.clone();
        self.call(fetch(store, path)).map_err(|e| self.fail(action, &e))
    }

    /// PUTs `bytes` at `path` with `mode` and `attributes`; the raw outcome. A 409
    /// ConditionalRequestConflict (another conditional write in flight) is retried with
    /// backoff; the caller then re-reads on 412.
    fn put(
        &self,
        path: Path,
        bytes: Vec<u8>,
        mode: PutMode,
        attributes: Attributes,
    ) -> Result<Option<String>, object_store::Error> {
        let store = self.store.clone();
        self.call(async move {
            let payload = PutPayload::from(bytes);
            let mut attempt = 0;
            loop {
                let opts = PutOptions {
                    mode: mode.clone(),
                    attributes: attributes.clone(),
                    ..PutOptions::default()
                };
                match store.put_opts(&path, payload.clone(), opts).await {
                    Err(e) if classify(&e).0 == Kind::Conflict && attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(attempt)).await;
                    }
                    other => return Ok(other?.e_tag),
                }
            }
        })
    }

    /// Deletes `paths` (best effort: they are unreachable garbage once the state moved on).
    fn delete_all(&self, paths: Vec<Path>) {
        if paths.is_empty() {
            return;
        }
        let store = self.store.clone();
        let _ = self.call(async move {
            use futures::StreamExt;
            let locations = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
            let mut results = store.delete_stream(locations);
            while results.next().await.is_some() {}
            Ok(())
        });
    }

    /// Writes need the lock, and a lock still held.
    fn require_writable(&self) -> Result<(), StateError> {
        if self.held.is_none() {
            return Err(StateError::ReadOnly { what: self.describe() });
        }
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(why) => Err(s3_err(S3Error::LockLost { target: self.target.clone(), why })),
            None => Ok(()),
        }
    }

    /// The journal on top of `base`: batches 1, 2, … until the first missing one.
    fn read_journal(&mut self, base: u64) -> Result<Option<JournalContents>, StateError> {
        let what = self.describe_journal();
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        'windows: loop {
            let first = bodies.len() as u64 + 1;
            let paths: Vec<Path> =
                (first..first + JOURNAL_WINDOW).map(|n| self.journal_path(base, n)).collect();
            let store = self.store.clone();
            let window = self
                .call(async move {
                    let gets = paths.into_iter().map(|p| fetch(store.clone(), p));
                    futures::future::join_all(gets).await.into_iter().collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| self.fail("reading the journal", &e))?;
            for object in window {
                match object {
                    Some(o) => bodies.push(o.bytes),
                    None => break 'windows,
                }
            }
        }
        self.journal = Cursor { base, count: bodies.len() as u64 };
        if bodies.is_empty() {
            return Ok(None);
        }
        let mut header: Option<JournalHeader> = None;
        let mut lines = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let seq = i + 1;
            let damaged = |reason: String| StateError::Journal {
                what: format!("{what} (record batch {seq})"),
                line: 1,
                reason,
            };
            let text = std::str::from_utf8(body).map_err(|_| damaged("it is not UTF-8".into()))?;
            let mut parts = text.lines();
            let h: JournalHeader = serde_json::from_str(parts.next().unwrap_or_default())
                .map_err(|e| damaged(format!("bad header: {e}")))?;
            if h.base_serial != base {
                return Err(damaged(format!(
                    "it extends serial {}, but it is stored under {base}",
                    h.base_serial
                )));
            }
            match &header {
                Some(first) if first.lineage != h.lineage => {
                    return Err(damaged(format!(
                        "records of two lineages are mixed ({} then {})",
                        first.lineage, h.lineage
                    )));
                }
                Some(_) => {}
                None => header = Some(h),
            }
            for (j, line) in parts.filter(|l| !l.is_empty()).enumerate() {
                let record: JournalLine = serde_json::from_str(line).map_err(|e| StateError::Journal {
                    what: format!("{what} (record batch {seq})"),
                    line: j + 2,
                    reason: e.to_string(),
                })?;
                lines.push(record);
            }
        }
        Ok(header.map(|header| JournalContents { header, lines }))
    }

    /// The stored document's metadata as this backend needs it, from a GET of `KEY`.
    fn current_from(&self, object: Object) -> Result<Current, StateError> {
        let what = "the state object";
        let etag = object.etag.ok_or_else(|| {
            self.foreign(what, "has no ETag", "this store cannot do compare-and-swap; use another store")
        })?;
        let meta = |name: &'static str| {
            object.attributes.get(&Attribute::Metadata(name.into())).map(|v| v.as_ref().to_owned())
        };
        let serial = meta(META_SERIAL)
            .and_then(|s| s.parse().ok())
            .or_else(|| serial_in_json(&object.bytes))
            .ok_or_else(|| {
                self.foreign(
                    what,
                    "has no tokenform-serial metadata and is not a readable state document (was it uploaded by hand?)",
                    "upload a state with `tokenform state push FILE` (against an empty key), which writes the metadata",
                )
            })?;
        let previous = meta(META_PREVIOUS)
            .map(|p| p.split(',').filter_map(|s| s.trim().parse().ok()).take(PREVIOUS).collect())
            .unwrap_or_default();
        Ok(Current { etag, bytes: object.bytes, serial, previous })
    }

    /// Re-reads the state after a conditional PUT failed: `Some(etag)` when it now holds
    /// exactly `bytes` (a retried request whose first attempt succeeded).
    fn stored_is(&self, bytes: &[u8]) -> Result<(Option<String>, Option<String>), StateError> {
        let now = self.fetch(self.path(""), "re-reading the state")?;
        Ok(match now {
            Some(o) if o.bytes == bytes => (o.etag.clone(), o.etag),
            Some(o) => (None, o.etag),
            None => (None, None),
        })
    }
}

fn s3_err(e: S3Error) -> StateError {
    StateError::S3(Box::new(e))
}

/// GETs `path`; `Ok(None)` when the object does not exist (a missing bucket is an error).
async fn fetch(store: Arc<AmazonS3>, path: Path) -> Result<Option<Object>, object_store::Error> {
    match store.get(&path).await {
        Ok(result) => {
            let etag = result.meta.e_tag.clone();
            let attributes = result.attributes.clone();
            let last_modified =
                jiff::Timestamp::from_millisecond(result.meta.last_modified.timestamp_millis())
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let bytes = result.bytes().await?.to_vec();
            Ok(Some(Object { bytes, etag, attributes, last_modified }))
        }
        Err(e) if classify(&e).0 == Kind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The `serial` of a plain JSON state document (for a document without metadata).
fn serial_in_json(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Probe {
        serial: u64,
    }
    serde_json::from_slice::<Probe>(bytes).ok().map(|p| p.serial)
}

fn state_attributes(document: &Document<'_>, previous: &[u64]) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/json".into());
    attributes.insert(Attribute::Metadata(META_SERIAL.into()), document.serial.to_string().into());
    attributes.insert(Attribute::Metadata(META_LINEAGE.into()), document.lineage.to_owned().into());
    let previous: Vec<String> = previous.iter().map(u64::to_string).collect();
    attributes.insert(Attribute::Metadata(META_PREVIOUS.into()), previous.join(",").into());
    attributes
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        format!("the state in S3 {}", self.target)
    }

    fn describe_journal(&self) -> String {
        format!("the state journal in S3 {} (objects {}.journal/…)", self.target, self.key)
    }

    fn restore_hint(&self) -> String {
        "save the previous version with `tokenform state pull --previous 1 > previous.json`, \
         check it, and restore it with `tokenform state push --force previous.json`"
            .to_owned()
    }

    fn lock(&mut self, holder: &LockInfo, timeout: Duration) -> Result<(), StateError> {
        let mut holder = holder.clone();
        holder.path = format!("{} (lock object {}.lock)", self.target, self.key);
        lock::acquire(self, &holder, timeout)
    }

    fn read(&mut self) -> Result<Stored, StateError> {
        let object = self.fetch(self.path(""), "reading the state")?;
        let current = object.map(|o| self.current_from(o)).transpose()?;
        let base = current.as_ref().map_or(0, |c| c.serial);
        let version = current.as_ref().map_or(Version::Absent, |c| Version::At(c.etag.clone()));
        let document = current.as_ref().map(|c| c.bytes.clone());
        self.current = current;
        let journal = self.read_journal(base)?;
        if journal.is_some() && self.held.is_none() {
            // A reader holds no lock: a writer may have saved (and moved the journal on)
            // between the two reads. The store reads again on this error.
            let again = self.fetch(self.path(""), "reading the state")?;
            if again.and_then(|o| o.etag) != self.current.as_ref().map(|c| c.etag.clone()) {
                return Err(StateError::Journal {
                    what: self.describe_journal(),
                    line: 1,
                    reason: "the state was saved while it was being read".into(),
                });
            }
        }
        Ok(Stored { document, version, journal })
    }

    fn append_journal(&mut self, header: &JournalHeader, lines: &[String]) -> Result<(), StateError> {
        self.require_writable()?;
        if self.journal.base != header.base_serial {
            self.journal = Cursor { base: header.base_serial, count: 0 };
        }
        let header_line =
            serde_json::to_string(header).map_err(|e| StateError::Serialize { message: e.to_string() })?;
        let mut body = header_line;
        for line in lines {
            body.push('\n');
            body.push_str(line);
        }
        body.push('\n');
        let seq = self.journal.count + 1;
        let path = self.journal_path(header.base_serial, seq);
        let action = format!("writing journal record {seq}");
        match self.put(path.clone(), body.clone().into_bytes(), PutMode::Create, Attributes::new()) {
            Ok(_) => {}
            Err(e) if classify(&e).0 == Kind::Exists => {
                // Our own first attempt (answer lost, request retried), or another writer's.
                let stored = self.fetch(path, &action)?;
                if stored.map(|o| o.bytes) != Some(body.into_bytes()) {
                    return Err(s3_err(S3Error::LockLost {
                        target: self.target.clone(),
                        why: format!(
                            "journal record {seq} on serial {} was written by another run",
                            header.base_serial
                        ),
                    }));
                }
            }
            Err(e) => return Err(self.fail(&action, &e)),
        }
        self.journal.count = seq;
        Ok(())
    }

    fn write(&mut self, expected: &Version, document: Document<'_>) -> Result<Version, StateError> {
        self.require_writable()?;
        let conflict = |detail: String| StateError::Conflict { what: self.describe(), detail };
        let bytes = document.bytes.to_vec();
        let (outcome, previous) = match expected {
            Version::Absent => {
                let attributes = state_attributes(&document, &[]);
                (self.put(self.path(""), bytes.clone(), PutMode::Create, attributes), Vec::new())
            }
            Version::At(etag) => {
                let current = self.current.clone().filter(|c| &c.etag == etag).ok_or_else(|| {
                    conflict("the version to replace is not the one this run read".to_owned())
                })?;
                // The replaced document is kept first, so no save ever loses it.
                let path = self.version_path(current.serial);
                self.put(path, current.bytes.clone(), PutMode::Overwrite, Attributes::new())
                    .map_err(|e| self.fail("keeping the previous version", &e))?;
                let mut previous = vec![current.serial];
                previous.extend(current.previous.iter().copied().filter(|s| *s != current.serial));
                previous.truncate(PREVIOUS);
                let attributes = state_attributes(&document, &previous);
                let mode = PutMode::Update(UpdateVersion { e_tag: Some(etag.clone()), version: None });
                (self.put(self.path(""), bytes.clone(), mode, attributes), previous)
            }
        };
        let etag = match outcome {
            Ok(etag) => etag,
            Err(e) if matches!(classify(&e).0, Kind::Exists | Kind::Precondition) => {
                match self.stored_is(&bytes)? {
                    (Some(etag), _) => Some(etag),
                    (None, now) => {
                        let read = match expected {
                            Version::Absent => "no state".to_owned(),
                            Version::At(e) => format!("ETag {e}"),
                        };
                        let now = now.map_or_else(|| "no state".to_owned(), |e| format!("ETag {e}"));
                        return Err(conflict(format!("read {read}, now {now}")));
                    }
                }
            }
            Err(e) => return Err(self.fail("saving the state", &e)),
        };
        let etag = etag.ok_or_else(|| {
            self.foreign(
                "the state object",
                "was stored without an ETag",
                "this store cannot do compare-and-swap",
            )
        })?;
        // Garbage now: the journal of the replaced serial and a version beyond the last five.
        let mut garbage: Vec<Path> =
            (1..=self.journal.count).map(|n| self.journal_path(self.journal.base, n)).collect();
        if let Some(old) = &self.current {
            garbage
                .extend(old.previous.iter().filter(|s| !previous.contains(s)).map(|s| self.version_path(*s)));
        }
        self.delete_all(garbage);
        self.current = Some(Current { etag: etag.clone(), bytes, serial: document.serial, previous });
        self.journal = Cursor { base: document.serial, count: 0 };
        Ok(Version::At(etag))
    }

    fn clear_journal(&mut self) -> Result<(), StateError> {
        self.require_writable()?;
        // Newest first: an interrupted clear leaves a prefix of the journal, never a gap.
        for n in (1..=self.journal.count).rev() {
            let store = self.store.clone();
            let path = self.journal_path(self.journal.base, n);
            self.call(async move { store.delete(&path).await })
                .map_err(|e| self.fail("clearing the journal", &e))?;
            self.journal.count = n - 1;
        }
        Ok(())
    }

    fn previous(&mut self, n: usize) -> Result<Option<Vec<u8>>, StateError> {
        if n == 0 || n > PREVIOUS {
            return Ok(None);
        }
        if self.current.is_none() {
            let object = self.fetch(self.path(""), "reading the state")?;
            self.current = object.map(|o| self.current_from(o)).transpose()?;
        }
        let Some(serial) = self.current.as_ref().and_then(|c| c.previous.get(n - 1).copied()) else {
            return Ok(None);
        };
        Ok(self.fetch(self.version_path(serial), "reading a previous version")?.map(|o| o.bytes))
    }

    fn force_unlock(&mut self, id: &str) -> Result<ForceUnlocked, StateError> {
        lock::force_unlock(self, id)
    }
}

impl Drop for S3Backend {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            // Best effort and bounded: a lock left behind lapses after its lease.
            lock::release(self, &held);
        }
    }
}

//! Reading a whole offset-paginated collection in as few round trips as possible: the first
//! page tells the page size the server really uses (the requested limit is never trusted
//! for advancing) and, through `totalCount`, how many pages remain; those are fetched
//! `concurrency` at a time. The walk ends on a page shorter than the first one, or an empty
//! page. Gaps (items deleted meanwhile) fall back to a sequential walk; duplicates (items
//! shifted meanwhile) are dropped.
//!
//! A server that does not advance the list (a cache that drops the query and answers the
//! same page at every offset, a relay looping on `_links.next`) is stopped as soon as a page
//! brings no new item, or the walk passes the announced `totalCount` by more than a page;
//! [`MAX_ITEMS`] bounds memory whatever the server says. `totalCount` is read as the grand
//! total (as the Terraform provider reads it), except when every page reports its own
//! length, the other reading docs/ld-api-notes.md §5 leaves open. No HTTP here: the caller
//! fetches pages and turns a [`Stall`] into an error naming the URL.

use std::collections::HashSet;
use std::future::Future;

use futures::{StreamExt, TryStreamExt};

/// One page as received.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The server's `totalCount` (taken as the grand total).
    pub total: Option<u64>,
}

/// More items than any account holds (the state is sized for 100,000 tokens): a server
/// inventing items forever is stopped here.
pub const MAX_ITEMS: usize = 200_000;

/// Why a walk was stopped: the list does not advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The offset of the page that showed it.
    pub offset: u64,
    pub reason: String,
}

/// What ended a walk early.
#[derive(Debug)]
pub enum WalkError<E> {
    /// Fetching a page failed.
    Fetch(E),
    /// The server does not advance the list.
    Stalled(Stall),
}

impl<E> From<E> for WalkError<E> {
    fn from(e: E) -> Self {
        WalkError::Fetch(e)
    }
}

/// What the walk has read so far.
struct Walk<T, K> {
    items: Vec<T>,
    seen: HashSet<String>,
    key: K,
    page_size: u64,
    /// `totalCount` of the first page, unless every page so far reported its own length.
    total: Option<u64>,
    total_is_page_length: bool,
}

impl<T, K: Fn(&T) -> String> Walk<T, K> {
    /// Merges the page read at `offset`; returns how many items it had.
    fn merge(&mut self, offset: u64, page: Page<T>) -> Result<u64, Stall> {
        let len = page.items.len() as u64;
        self.total_is_page_length &= page.total == Some(len);
        let mut new = 0usize;
        for item in page.items {
            if self.seen.insert((self.key)(&item)) {
                self.items.push(item);
                new += 1;
            }
        }
        if len > 0 && new == 0 {
            return Err(Stall { offset, reason: format!("the page at offset {offset} brings no new item") });
        }
        if self.items.len() > MAX_ITEMS {
            return Err(Stall { offset, reason: format!("it holds more than {MAX_ITEMS} items") });
        }
        if let (Some(total), false) = (self.total, self.total_is_page_length)
            && offset + len > total.saturating_add(self.page_size)
        {
            return Err(Stall {
                offset,
                reason: format!("offset {offset} is more than a page past the {total} items it announced"),
            });
        }
        Ok(len)
    }
}

/// Fetches every item. `fetch(offset)` returns the page starting at `offset`; `key`
/// identifies an item for de-duplication; `concurrency` bounds the pages in flight
/// (1 = sequential).
pub async fn fetch_all<T, E, F, Fut, K>(fetch: F, key: K, concurrency: usize) -> Result<Vec<T>, WalkError<E>>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, E>>,
    K: Fn(&T) -> String,
{
    let first = fetch(0).await?;
    let page_size = first.items.len() as u64;
    // Only an empty page ends the walk here. A first page shorter than the limit asked does not:
    // the server may cap pages below what was asked, and `totalCount` may mean the page size.
    if page_size == 0 {
        return Ok(first.items);
    }
    let mut walk = Walk {
        items: Vec::new(),
        seen: HashSet::new(),
        key,
        page_size,
        total: first.total,
        total_is_page_length: true,
    };
    walk.merge(0, first).map_err(WalkError::Stalled)?;
    let mut next = page_size;
    let step = usize::try_from(page_size).unwrap_or(usize::MAX);
    loop {
        // Concurrent pages only where the total says they exist (a lazy range: a huge
        // `totalCount` costs nothing up front); past it, one page confirms the end.
        let end = match walk.total {
            Some(t) if !walk.total_is_page_length && next < t => t,
            _ => next + 1,
        };
        let mut pages = futures::stream::iter((next..end).step_by(step))
            .map(|o| {
                let f = fetch(o);
                async move { f.await.map(|p| (o, p)) }
            })
            .buffered(concurrency.max(1));
        let mut done = false;
        while let Some((o, page)) = pages.try_next().await? {
            if o != next {
                // An earlier page was short (items deleted meanwhile): go on from where the
                // data really is.
                break;
            }
            let len = walk.merge(o, page).map_err(WalkError::Stalled)?;
            next = o + len;
            if len < page_size {
                // A short page ends the walk, unless the total announces more (deletions in flight).
                done = len == 0 || walk.total.is_none_or(|t| walk.total_is_page_length || next >= t);
                break;
            }
        }
        if done {
            return Ok(walk.items);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A fake server: `data` items, pages capped at `cap`, reporting `total` (or not).
    fn server(
        data: Vec<u32>,
        cap: usize,
        with_total: bool,
        log: &Mutex<Vec<u64>>,
    ) -> impl Fn(u64) -> std::future::Ready<Result<Page<u32>, ()>> + '_ {
        move |offset| {
            log.lock().unwrap().push(offset);
            let start = usize::try_from(offset).unwrap().min(data.len());
            let end = (start + cap).min(data.len());
            std::future::ready(Ok(Page {
                items: data[start..end].to_vec(),
                total: with_total.then_some(data.len() as u64),
            }))
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn concurrent_walk_advances_by_items_received() {
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..1000).collect();
        let got = run(fetch_all(server(data.clone(), 20, true, &log), ToString::to_string, 8)).unwrap();
        assert_eq!(got, data);
        // 50 full pages; the total is an exact multiple, so one empty page confirms the end
        assert_eq!(log.lock().unwrap().len(), 51);
    }

    #[test]
    fn sequential_walk_without_total_stops_on_short_page() {
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..45).collect();
        let got = run(fetch_all(server(data.clone(), 20, false, &log), ToString::to_string, 8)).unwrap();
        assert_eq!(got, data);
        assert_eq!(*log.lock().unwrap(), vec![0, 20, 40]);
    }

    #[test]
    fn exact_multiple_without_total_ends_on_empty_page() {
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..40).collect();
        let got = run(fetch_all(server(data.clone(), 20, false, &log), ToString::to_string, 1)).unwrap();
        assert_eq!(got, data);
        assert_eq!(*log.lock().unwrap(), vec![0, 20, 40]);
    }

    #[test]
    fn empty_collection_is_one_request() {
        let log = Mutex::new(Vec::new());
        let got = run(fetch_all(server(Vec::new(), 20, true, &log), ToString::to_string, 8)).unwrap();
        assert!(got.is_empty());
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_total_larger_than_the_data_falls_back_to_sequential_and_stops() {
        // totalCount claims 100 but only 50 exist (e.g. deletions in flight).
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..50).collect();
        let fetch = |offset: u64| {
            log.lock().unwrap().push(offset);
            let start = usize::try_from(offset).unwrap().min(50);
            let end = (start + 20).min(50);
            std::future::ready(Ok::<_, ()>(Page { items: data[start..end].to_vec(), total: Some(100) }))
        };
        let got = run(fetch_all(fetch, ToString::to_string, 4)).unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn a_single_page_is_confirmed_by_an_empty_one() {
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..31).collect();
        let got = run(fetch_all(server(data.clone(), 1000, true, &log), ToString::to_string, 8)).unwrap();
        assert_eq!(got, data);
        assert_eq!(*log.lock().unwrap(), vec![0, 31], "the page size is learnt, not assumed from the limit");
    }

    #[test]
    fn total_count_meaning_page_size_still_reads_everything() {
        // If totalCount were the page's own size (unconfirmed), the walk must not stop early.
        let log = Mutex::new(Vec::new());
        let data: Vec<u32> = (0..95).collect();
        let fetch = |offset: u64| {
            log.lock().unwrap().push(offset);
            let start = usize::try_from(offset).unwrap().min(95);
            let end = (start + 20).min(95);
            let items = data[start..end].to_vec();
            let total = Some(items.len() as u64);
            std::future::ready(Ok::<_, ()>(Page { items, total }))
        };
        let got = run(fetch_all(fetch, ToString::to_string, 8)).unwrap();
        assert_eq!(got, data);
        assert_eq!(*log.lock().unwrap(), vec![0, 20, 40, 60, 80]);
    }

    /// Issue 11 item 4: a cache that drops the query answers page one at every offset.
    #[test]
    fn the_same_page_at_every_offset_stops_at_once() {
        for (total, concurrency) in
            [(Some(1_000_000_000), 8), (None, 8), (Some(1_000_000_000), 1), (Some(20), 8)]
        {
            let log = Mutex::new(0u32);
            let fetch = |_offset: u64| {
                *log.lock().unwrap() += 1;
                std::future::ready(Ok::<_, ()>(Page { items: (0..20u32).collect(), total }))
            };
            let err = run(fetch_all(fetch, ToString::to_string, concurrency)).unwrap_err();
            let WalkError::Stalled(stall) = err else { panic!("{err:?}") };
            assert_eq!(stall.offset, 20, "{total:?}");
            assert!(stall.reason.contains("no new item"), "{stall:?}");
            let requests = *log.lock().unwrap();
            assert!(requests <= 1 + 8, "{requests} requests for total {total:?}");
        }
    }

    #[test]
    fn new_items_past_the_announced_total_stop_the_walk() {
        // every page is fresh, but the server announced 30 items and keeps going
        let log = Mutex::new(Vec::new());
        let fetch = |offset: u64| {
            log.lock().unwrap().push(offset);
            let items: Vec<u64> = (offset..offset + 20).collect();
            std::future::ready(Ok::<_, ()>(Page { items, total: Some(30) }))
        };
        let err = run(fetch_all(fetch, ToString::to_string, 1)).unwrap_err();
        let WalkError::Stalled(stall) = err else { panic!("{err:?}") };
        assert_eq!(stall.offset, 40);
        assert!(stall.reason.contains("past the 30 items"), "{stall:?}");
        assert_eq!(*log.lock().unwrap(), vec![0, 20, 40]);
    }

    #[test]
    fn an_endless_list_of_new_items_is_bounded() {
        let requests = Mutex::new(0usize);
        let fetch = |offset: u64| {
            *requests.lock().unwrap() += 1;
            let items: Vec<u64> = (offset..offset + 1000).collect();
            std::future::ready(Ok::<_, ()>(Page { items, total: None }))
        };
        let err = run(fetch_all(fetch, ToString::to_string, 8)).unwrap_err();
        let WalkError::Stalled(stall) = err else { panic!("{err:?}") };
        assert!(stall.reason.contains("more than 200000"), "{stall:?}");
        assert_eq!(*requests.lock().unwrap(), MAX_ITEMS / 1000 + 1);
    }
}

//! Reading a whole offset-paginated collection in as few round trips as possible: the first
//! page tells the page size the server really uses (the requested limit is never trusted
//! for advancing) and, through `totalCount`, how many pages remain; those are fetched
//! concurrently. The walk ends on a page shorter than the first one, or an empty page.
//! `totalCount` only plans the concurrent fetches, since its meaning (grand total or page
//! size) is unconfirmed: when it says "done" after a full page, one more page confirms.
//! Gaps (items deleted meanwhile) fall back to a sequential walk; duplicates (items shifted
//! meanwhile) are dropped. No HTTP here: the caller fetches pages.

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

/// A safety stop against a server that never ends a walk.
const MAX_PAGES: usize = 100_000;

/// Fetches every item. `fetch(offset)` returns the page starting at `offset`; `key`
/// identifies an item for de-duplication; `concurrency` bounds the pages in flight
/// (1 = sequential).
pub async fn fetch_all<T, E, F, Fut, K>(fetch: F, key: K, concurrency: usize) -> Result<Vec<T>, E>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<Page<T>, E>>,
    K: Fn(&T) -> String,
{
    let first = fetch(0).await?;
    let page_size = first.items.len() as u64;
    let total = first.total;
    let mut items = first.items;
    // Only an empty page ends the walk here. A first page shorter than the limit asked does not:
    // the server may cap pages below what was asked, and `totalCount` may mean the page size.
    if page_size == 0 {
        return Ok(items);
    }
    let mut next = page_size;
    // Length of the last page merged: a short (or empty) one ends the walk.
    let mut last = page_size;

    if let (Some(t), true) = (total, concurrency > 1 && page_size < u64::MAX) {
        let step = usize::try_from(page_size).unwrap_or(usize::MAX);
        let offsets: Vec<u64> = (page_size..t).step_by(step).collect();
        let pages: Vec<(u64, Page<T>)> = futures::stream::iter(offsets)
            .map(|o| {
                let f = fetch(o);
                async move { f.await.map(|p| (o, p)) }
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        for (o, page) in pages {
            if o != next {
                // An earlier page was short: what follows is not contiguous.
                break;
            }
            last = page.items.len() as u64;
            items.extend(page.items);
            next = o + last;
            if last < page_size {
                break;
            }
        }
        // A short page while the total announces more: items were deleted meanwhile; go on
        // sequentially from where the data really is.
        if last < page_size && last > 0 && next < t {
            last = page_size;
        }
    }

    let mut pages = 1usize;
    while last == page_size && pages < MAX_PAGES {
        let page = fetch(next).await?;
        pages += 1;
        last = page.items.len() as u64;
        items.extend(page.items);
        next += last;
    }
    Ok(dedupe(items, &key))
}

fn dedupe<T>(mut items: Vec<T>, key: &impl Fn(&T) -> String) -> Vec<T> {
    let mut seen = HashSet::with_capacity(items.len());
    items.retain(|i| seen.insert(key(i)));
    items
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
}

//! Reading a whole offset-paginated collection in as few round trips as possible: the first
//! page tells the page size the server really uses (the requested limit is never trusted)
//! and, through `totalCount`, how many pages remain; those are fetched concurrently. A short
//! or empty page ends the walk; gaps (items deleted meanwhile) fall back to a sequential walk;
//! duplicates (items shifted meanwhile) are dropped. No HTTP here: the caller fetches pages.

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

/// Fetches every item. `fetch(offset)` returns the page starting at `offset`; `key` identifies
/// an item for de-duplication; `concurrency` bounds the pages in flight (1 = sequential).
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
    if page_size == 0 {
        return Ok(items);
    }
    let mut next = page_size;
    let mut done = total.is_some_and(|t| next >= t);

    if let (Some(t), false, true) = (total, done, concurrency > 1) {
        let offsets: Vec<u64> =
            (page_size..t).step_by(usize::try_from(page_size).unwrap_or(usize::MAX)).collect();
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
            let n = page.items.len() as u64;
            items.extend(page.items);
            next = o + n;
            if n == 0 {
                done = true;
                break;
            }
            if n < page_size {
                // Short page: the end, unless the total says items are missing (deleted meanwhile).
                done = next >= t;
                break;
            }
        }
        done = done || next >= t;
    }

    let mut pages = 1usize;
    while !done && pages < MAX_PAGES {
        let page = fetch(next).await?;
        pages += 1;
        let n = page.items.len() as u64;
        items.extend(page.items);
        next += n;
        done = n == 0 || n < page_size || total.is_some_and(|t| next >= t);
    }

    let mut seen = HashSet::with_capacity(items.len());
    items.retain(|i| seen.insert(key(i)));
    Ok(items)
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
        assert_eq!(log.lock().unwrap().len(), 50, "one request per page, none wasted");
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
}

//! Pagination the gateway mints itself: a list aggregated from many upstreams (each of which
//! was read page by page at discovery) is served in pages of `page_size`, with an opaque
//! cursor. A cursor that the gateway did not mint is an invalid-params error.

use base64::Engine;
use rmcp::ErrorData;

const PREFIX: &str = "canopy-page:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn decode(cursor: &str) -> Option<usize> {
    let raw = B64.decode(cursor).ok()?;
    std::str::from_utf8(&raw).ok()?.strip_prefix(PREFIX)?.parse().ok()
}

fn encode(offset: usize) -> String {
    B64.encode(format!("{PREFIX}{offset}"))
}

/// The page of `items` that `cursor` points at, and the cursor of the next page if any.
pub fn page<T>(items: Vec<T>, cursor: Option<&str>, page_size: usize) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let offset = match cursor {
        None => 0,
        Some(c) => decode(c).ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor '{c}'"), None))?,
    };
    let page_size = page_size.max(1);
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(page_size).collect();
    let next = (offset + page_size < total).then(|| encode(offset + page_size));
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..10).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = page(items.clone(), cursor.as_deref(), 3).unwrap();
            assert!(page.len() <= 3);
            seen.extend(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert!(page(items.clone(), Some("bogus"), 3).is_err());
        assert_eq!(page(items, None, 100).unwrap().1, None, "one page: no cursor");
    }
}

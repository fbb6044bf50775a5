//! Request input, extracted and checked in one place: the api's own `Json`, `Query` and `Path`
//! extractors (used by every `/api/v0` handler instead of axum's) and the checks the OAuth
//! routes apply to their forms and JSON.
//!
//! The rule held here: no string and no object key of a request's input contains a NUL
//! character. Postgres refuses NUL in TEXT and JSONB, so such input would otherwise fail deep in
//! a query as a 500; it is refused at extraction as a 400 `INVALID_REQUEST` naming the field
//! (a query or path parameter's name, or a path into the JSON body such as `args.foo` or
//! `included_tools[0]`).

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The message for a NUL in the field named `field`.
fn nul_message(field: &str) -> String {
    format!("{field}: must not contain a NUL character")
}

/// Where a NUL is in a JSON value, as a message naming the path to it (`prefix` is the path of
/// `value` itself; empty for a whole body). `None`: there is none.
pub(crate) fn nul_in_json(value: &Value, prefix: &str) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => {
            Some(nul_message(if prefix.is_empty() { "request body" } else { prefix }))
        }
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_in_json(item, &format!("{prefix}[{i}]")))
        }
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                let at = if prefix.is_empty() { "request body" } else { prefix };
                let shown = key.replace('\0', "\\u0000");
                return Some(format!("{at}: key \"{shown}\" must not contain a NUL character"));
            }
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            nul_in_json(item, &path)
        }),
        _ => None,
    }
}

/// Where a NUL is in name/value pairs (a query string, a form body), as a message naming the
/// parameter. `None`: there is none.
/// `what` names the whole (`query string`, `form body`) for a NUL in a parameter's name.
pub(crate) fn nul_in_pairs<'a>(what: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    pairs.into_iter().find_map(|(name, value)| {
        if name.contains('\0') {
            let shown = name.replace('\0', "\\u0000");
            Some(format!("{what}: parameter name \"{shown}\" must not contain a NUL character"))
        } else if value.contains('\0') {
            Some(nul_message(name))
        } else {
            None
        }
    })
}

/// The same check for an `application/x-www-form-urlencoded` body or a query string.
pub(crate) fn nul_in_form(what: &str, encoded: &[u8]) -> Option<String> {
    let pairs: Vec<_> = url::form_urlencoded::parse(encoded).collect();
    nul_in_pairs(what, pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
}

/// Parses a JSON body into `T` after checking it holds no NUL. For handlers that need the raw
/// bytes too (an idempotency digest); the [`Json`] extractor does the same.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        if let Some(message) = nul_in_json(&value, "") {
            return Err(ApiError::invalid(message));
        }
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// A JSON request body (checked as axum's `Json` checks it: content type, syntax, shape), with
/// no NUL in any string or key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        if let Some(message) = nul_in_json(&value, "") {
            return Err(ApiError::invalid(message));
        }
        // The same wording as axum's own rejection of a body of the wrong shape.
        let parsed = serde_json::from_value(value).map_err(|e| {
            ApiError::invalid(format!("request body: Failed to deserialize the JSON body into the target type: {e}"))
        })?;
        Ok(Json(parsed))
    }
}

/// The query string, with no NUL in any parameter's name or value.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::try_from_uri(&parts.uri)
    }
}

impl<T: DeserializeOwned> Query<T> {
    /// The query of `uri`, checked.
    pub fn try_from_uri(uri: &axum::http::Uri) -> Result<Self, ApiError> {
        if let Some(message) = nul_in_form("query string", uri.query().unwrap_or_default().as_bytes()) {
            return Err(ApiError::invalid(message));
        }
        let axum::extract::Query(query) = axum::extract::Query::<T>::try_from_uri(uri)?;
        Ok(Query(query))
    }
}

/// The path parameters, with no NUL in any of them; a parameter that does not parse is a 400
/// in the envelope too.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("path: {}", e.body_text())))?;
        if let Some((name, _)) = raw.iter().find(|(_, value)| value.contains('\0')) {
            return Err(ApiError::invalid(nul_message(name)));
        }
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("path: {}", e.body_text())))?;
        Ok(Path(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_path_to_a_nul() {
        assert_eq!(nul_in_json(&json!({"a": {"b": ["x", "y\u{0}"]}}), ""), Some(nul_message("a.b[1]")));
        assert_eq!(nul_in_json(&json!("\u{0}"), ""), Some(nul_message("request body")));
        let key = nul_in_json(&json!({"h": {"k\u{0}": 1}}), "").unwrap_or_default();
        assert!(key.starts_with("h: key \"k\\u0000\""), "{key}");
        assert_eq!(nul_in_json(&json!({"a": [1, true, null, "fine"]}), ""), None);
        assert_eq!(nul_in_form("query string", b"a=1&server=%00"), Some(nul_message("server")));
        assert!(nul_in_form("query string", b"se%00rver=1").is_some());
        assert_eq!(nul_in_form("query string", b"a=1&b=%FF"), None);
    }
}

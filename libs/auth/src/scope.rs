//! OAuth scope strings (RFC 6749 section 3.3): scope tokens separated by single spaces.

/// A scope token: one or more of `%x21 / %x23-5B / %x5D-7E` (printable ASCII but space, `"` and `\`).
pub fn is_valid_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a `scope` parameter or claim into its tokens, first occurrence of each kept in order.
/// `None` if any token is invalid.
pub fn parse_scope(scope: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for token in scope.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_scope_token(token) {
            return None;
        }
        if !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
    Some(out)
}

/// The `scope` claim for `scopes`, or the first invalid token.
pub(crate) fn join_scopes(scopes: &[String]) -> Result<String, String> {
    if let Some(bad) = scopes.iter().find(|s| !is_valid_scope_token(s)) {
        return Err(bad.clone());
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_valid_scope_token("tools:call"));
        assert!(is_valid_scope_token("https://x.example/read"));
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_valid_scope_token(bad), "{bad:?}");
        }
        assert_eq!(parse_scope("a b  a c").unwrap(), ["a", "b", "c"]);
        assert_eq!(parse_scope("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_scope("a \"b\""), None);
        assert_eq!(join_scopes(&["a".into(), "b".into()]).unwrap(), "a b");
        assert_eq!(join_scopes(&["a b".into()]).unwrap_err(), "a b");
    }
}

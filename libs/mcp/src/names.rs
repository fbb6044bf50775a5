//! Gateway names. On `/mcp` every tool is `server__tool`; server names never contain `__`, so
//! splitting on the first `__` is unambiguous even when the tool name itself contains `__`.

pub const SEPARATOR: &str = "__";

pub fn prefixed(server: &str, name: &str) -> String {
    format!("{server}{SEPARATOR}{name}")
}

/// `server__tool` -> (`server`, `tool`). `None` when there is no separator or a side is empty.
pub fn split(gateway_name: &str) -> Option<(&str, &str)> {
    let (server, name) = gateway_name.split_once(SEPARATOR)?;
    (!server.is_empty() && !name.is_empty()).then_some((server, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for (server, tool) in [("calc", "add"), ("fs", "read__file"), ("a-b", "x.y-z"), ("s", "_x")] {
            assert_eq!(split(&prefixed(server, tool)), Some((server, tool)));
        }
        assert_eq!(split("noseparator"), None);
        assert_eq!(split("__tool"), None);
        assert_eq!(split("server__"), None);
    }
}

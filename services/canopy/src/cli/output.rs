//! Output formatting for the client verbs: aligned tables, one-line truncation, JSON Schema
//! rendered as a parameter list, and MCP tool-call results, rendered prompts and resource
//! contents for a terminal. Pure functions from values to strings, so each is unit-tested
//! without a server.

use serde_json::Value;

/// Column width a description is cut to in tables.
pub const DESCRIPTION_WIDTH: usize = 60;

/// Pretty JSON, for `--json` and structured content.
pub fn json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    let first = text.trim().lines().next().unwrap_or("").trim_end();
    let cut = text.trim().lines().nth(1).is_some();
    if first.chars().count() > max {
        let kept: String = first.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", kept.trim_end())
    } else if cut {
        format!("{first} …")
    } else {
        first.to_string()
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded. No header
/// line when `headers` is empty.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).chain([headers.len()]).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for (w, h) in widths.iter_mut().zip(headers) {
        *w = h.chars().count();
    }
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = if headers.is_empty() { String::new() } else { line(headers.to_vec()) };
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A schema's type, readably: `string`, `integer | null`, `array of string`, `enum`, ...
pub fn schema_type(schema: &Value) -> String {
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => {
            if let Some(r) = schema["$ref"].as_str() {
                r.rsplit('/').next().unwrap_or(r).to_string()
            } else if let Some(alts) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
                alts.iter().map(schema_type).collect::<Vec<_>>().join(" | ")
            } else if schema.get("enum").is_some() {
                "enum".into()
            } else if schema.get("const").is_some() {
                "const".into()
            } else {
                "any".into()
            }
        }
    };
    match schema.get("items") {
        Some(items) if base == "array" => format!("array of {}", schema_type(items)),
        _ => base,
    }
}

/// The properties of an object schema as an indented list, required ones first:
/// `name (type, required)`, then the description and constraints on indented lines.
pub fn parameters(schema: &Value) -> String {
    let mut out = String::new();
    render_properties(schema, 1, &mut out);
    out
}

fn render_properties(schema: &Value, depth: usize, out: &mut String) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    let required: Vec<&str> =
        schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let mut ordered: Vec<(&String, &Value)> = props.iter().collect();
    ordered.sort_by_key(|(name, _)| !required.contains(&name.as_str()));
    let indent = "  ".repeat(depth);
    for (name, prop) in ordered {
        let mut facts = vec![schema_type(prop)];
        facts.push(if required.contains(&name.as_str()) { "required" } else { "optional" }.into());
        if let Some(d) = prop.get("default") {
            facts.push(format!("default {d}"));
        }
        out.push_str(&format!("{indent}{name} ({})\n", facts.join(", ")));
        let detail = format!("{indent}    ");
        if let Some(d) = prop["description"].as_str() {
            for line in d.trim().lines() {
                out.push_str(&format!("{detail}{}\n", line.trim_end()));
            }
        }
        if let Some(values) = prop["enum"].as_array() {
            let values: Vec<String> = values.iter().map(Value::to_string).collect();
            out.push_str(&format!("{detail}one of: {}\n", values.join(", ")));
        }
        let limits: Vec<String> = ["minimum", "maximum", "minLength", "maxLength", "pattern", "format"]
            .iter()
            .filter_map(|k| prop.get(*k).map(|v| format!("{k} {v}")))
            .collect();
        if !limits.is_empty() {
            out.push_str(&format!("{detail}{}\n", limits.join(", ")));
        }
        if depth < 4 {
            let nested = if prop["properties"].is_object() { prop } else { &prop["items"] };
            render_properties(nested, depth + 2, out);
        }
    }
}

/// A placeholder value per required parameter, for a copy-pasteable `--input` example.
pub fn example_input(schema: &Value) -> Value {
    let mut example = serde_json::Map::new();
    let props = schema["properties"].as_object();
    for name in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let prop = props.and_then(|p| p.get(name)).cloned().unwrap_or(Value::Null);
        let value = if let Some(first) = prop["enum"].as_array().and_then(|e| e.first()) {
            first.clone()
        } else {
            match schema_type(&prop).split(" | ").next().unwrap_or("") {
                "string" => Value::String(String::new()),
                "number" | "integer" => Value::from(0),
                "boolean" => Value::Bool(false),
                t if t.starts_with("array") => Value::Array(vec![]),
                "object" => Value::Object(Default::default()),
                _ => Value::Null,
            }
        };
        example.insert(name.to_string(), value);
    }
    Value::Object(example)
}

/// An MCP `CallToolResult` for a terminal: text blocks as they are, other blocks as a one-line
/// description, then `structuredContent` pretty-printed (unless a text block already is that
/// JSON, as the MCP specification recommends tools send).
pub fn call_result(result: &Value) -> String {
    let mut out = String::new();
    let blocks = result["content"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let structured = result.get("structuredContent").filter(|s| !s.is_null());
    let mut structured_shown = false;
    for block in blocks {
        if let (Some(s), Some(text)) = (structured, block["text"].as_str().filter(|_| block["type"] == "text")) {
            structured_shown |= serde_json::from_str::<Value>(text).ok().as_ref() == Some(s);
        }
        push_line(&mut out, &content_block(block));
    }
    if let (Some(s), false) = (structured, structured_shown) {
        out.push_str("structured content:\n");
        out.push_str(&json(s));
        out.push('\n');
    }
    out
}

/// One MCP content block (of a tool result or a prompt message): text as it is, anything
/// else as a one-line description.
pub fn content_block(block: &Value) -> String {
    match block["type"].as_str().unwrap_or("") {
        "text" => block["text"].as_str().unwrap_or("").to_string(),
        kind @ ("image" | "audio") => format!(
            "[{kind}: {}, {} bytes]",
            block["mimeType"].as_str().unwrap_or("unknown type"),
            block["data"].as_str().map_or(0, base64_size)
        ),
        "resource_link" => format!(
            "[resource link: {}{}]",
            block["uri"].as_str().unwrap_or("?"),
            block["name"].as_str().map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        "resource" => {
            let r = &block["resource"];
            let uri = r["uri"].as_str().unwrap_or("?");
            match r["text"].as_str() {
                Some(text) => format!("[resource: {uri}]\n{text}"),
                None => format!("[resource: {uri}, {} blob]", r["mimeType"].as_str().unwrap_or("binary")),
            }
        }
        _ => json(block),
    }
}

/// The size of the data a base64 string encodes (padding and whitespace accounted for).
pub fn base64_size(data: &str) -> usize {
    let chars = data.chars().filter(|c| !c.is_whitespace()).count();
    let padding = data.trim_end().chars().rev().take_while(|&c| c == '=').count().min(2);
    (chars / 4 * 3 + (chars % 4).saturating_sub(1)).saturating_sub(padding)
}

/// An MCP `GetPromptResult`: the prompt's name and description, then each message as
/// `Message N (role):` and its content.
pub fn prompt_result(name: &str, result: &Value) -> String {
    let mut out = format!("Prompt: {name}\n");
    if let Some(d) = result["description"].as_str().filter(|d| !d.trim().is_empty()) {
        out.push_str(&format!("Description: {}\n", d.trim()));
    }
    let messages = result["messages"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if messages.is_empty() {
        out.push_str("\nThe prompt has no messages.\n");
    }
    for (i, message) in messages.iter().enumerate() {
        out.push_str(&format!("\nMessage {} ({}):\n", i + 1, message["role"].as_str().unwrap_or("unknown role")));
        // One content block per message in the specification; a list is shown block by block.
        match &message["content"] {
            Value::Array(blocks) => blocks.iter().for_each(|b| push_line(&mut out, &content_block(b))),
            block => push_line(&mut out, &content_block(block)),
        }
    }
    out
}

/// An MCP `ReadResourceResult`: text contents as they are, blobs as a note of their type and
/// size. With more than one content, each is headed by `[uri, mime type]`.
pub fn resource_contents(result: &Value) -> String {
    let contents = result["contents"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if contents.is_empty() {
        return "The resource has no contents.\n".into();
    }
    let mut out = String::new();
    for (i, content) in contents.iter().enumerate() {
        let mime = content["mimeType"].as_str();
        if contents.len() > 1 {
            if i > 0 {
                out.push('\n');
            }
            let uri = content["uri"].as_str().unwrap_or("?");
            out.push_str(&format!("[{uri}{}]\n", mime.map(|m| format!(", {m}")).unwrap_or_default()));
        }
        match (content["text"].as_str(), content["blob"].as_str()) {
            (Some(text), _) => push_line(&mut out, text),
            (None, Some(blob)) => push_line(
                &mut out,
                &format!(
                    "[blob: {}, {} bytes; --json shows it base64-encoded]",
                    mime.unwrap_or("unknown type"),
                    base64_size(blob)
                ),
            ),
            (None, None) => push_line(&mut out, &json(content)),
        }
    }
    out
}

/// `line` and a newline, unless it already ends with one.
fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_and_tables() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("much longer than that", 10), "much long…");
        assert_eq!(truncate("first\nsecond", 20), "first …");
        assert_eq!(
            table(&["NAME", "X"], &[vec!["a".into(), "1".into()], vec!["long".into(), "".into()]]),
            "NAME  X\na     1\nlong\n"
        );
        assert_eq!(table(&[], &[vec!["- a".into(), "b".into()]]), "- a  b\n");
    }

    #[test]
    fn schema_rendering() {
        let schema = json!({
            "type": "object",
            "properties": {
                "ms": {"type": "integer", "minimum": 0, "default": 1000},
                "message": {"type": "string", "description": "Text to echo back"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "mode": {"enum": ["a", "b"]},
                "opt": {"type": ["string", "null"]},
                "nested": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}
            },
            "required": ["message", "mode"]
        });
        let text = parameters(&schema);
        assert!(text.contains("  message (string, required)\n      Text to echo back\n"), "{text}");
        assert!(text.contains("  ms (integer, optional, default 1000)\n      minimum 0\n"), "{text}");
        assert!(text.contains("  tags (array of string, optional)\n"), "{text}");
        assert!(text.contains("  mode (enum, required)\n      one of: \"a\", \"b\"\n"), "{text}");
        assert!(text.contains("  opt (string | null, optional)\n"), "{text}");
        assert!(text.contains("      x (number, required)\n"), "{text}");
        assert!(text.find("message (").unwrap() < text.find("ms (").unwrap(), "required first: {text}");
        assert_eq!(example_input(&schema), json!({"message": "", "mode": "a"}));
    }

    #[test]
    fn call_results() {
        let add =
            json!({"content": [{"type": "text", "text": "5"}], "structuredContent": {"sum": 5.0}, "isError": false});
        assert_eq!(call_result(&add), "5\nstructured content:\n{\n  \"sum\": 5.0\n}\n");
        let mirrored =
            json!({"content": [{"type": "text", "text": "{\"sum\": 5.0}"}], "structuredContent": {"sum": 5.0}});
        assert_eq!(call_result(&mirrored), "{\"sum\": 5.0}\n");
        let other = json!({"content": [
            {"type": "image", "mimeType": "image/png", "data": "AAAA"},
            {"type": "resource_link", "uri": "file:///x", "name": "x"},
            {"type": "resource", "resource": {"uri": "mem://a", "text": "hello"}}
        ]});
        assert_eq!(
            call_result(&other),
            "[image: image/png, 3 bytes]\n[resource link: file:///x (x)]\n[resource: mem://a]\nhello\n"
        );
    }

    #[test]
    fn base64_sizes() {
        for (encoded, size) in [("", 0), ("AA==", 1), ("AAA=", 2), ("AAAA", 3), ("AAAAAA==", 4), ("AAAA\nAAAA", 6)] {
            assert_eq!(base64_size(encoded), size, "{encoded:?}");
        }
    }

    #[test]
    fn prompt_results() {
        let result = json!({"description": "A prompt with an image", "messages": [
            {"role": "user", "content": {"type": "image", "mimeType": "image/png", "data": "AAAAAA=="}},
            {"role": "assistant", "content": {"type": "text", "text": "Looks like a pixel."}},
            {"role": "user", "content": {"type": "resource", "resource": {"uri": "test://x", "text": "embedded"}}}
        ]});
        assert_eq!(
            prompt_result("fx__img", &result),
            "Prompt: fx__img\nDescription: A prompt with an image\n\n\
             Message 1 (user):\n[image: image/png, 4 bytes]\n\n\
             Message 2 (assistant):\nLooks like a pixel.\n\n\
             Message 3 (user):\n[resource: test://x]\nembedded\n"
        );
        assert_eq!(prompt_result("a__b", &json!({"messages": []})), "Prompt: a__b\n\nThe prompt has no messages.\n");
    }

    #[test]
    fn resource_results() {
        let text = json!({"contents": [{"uri": "test://t", "mimeType": "text/plain", "text": "hello"}]});
        assert_eq!(resource_contents(&text), "hello\n");
        let blob = json!({"contents": [{"uri": "test://b", "mimeType": "image/png", "blob": "AAAA"}]});
        assert_eq!(resource_contents(&blob), "[blob: image/png, 3 bytes; --json shows it base64-encoded]\n");
        let both = json!({"contents": [
            {"uri": "test://t", "text": "one\n"},
            {"uri": "test://b", "mimeType": "image/png", "blob": "AA=="}
        ]});
        assert_eq!(
            resource_contents(&both),
            "[test://t]\none\n\n[test://b, image/png]\n[blob: image/png, 1 bytes; --json shows it base64-encoded]\n"
        );
        assert_eq!(resource_contents(&json!({"contents": []})), "The resource has no contents.\n");
    }
}

//! Turning spec names into Rust identifiers and spec descriptions into doc comments.

/// `payment_id` / `line-items` / `LineItems` → `payment_id` / `line_items` / `line_items`.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if ch.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = false;
        } else if ch.is_ascii_alphanumeric() {
            out.push(ch);
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        } else {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// `one_time_price` / `line-items` / `Feature Flag Config` → `OneTimePrice` / ...
pub fn pascal(name: &str) -> String {
    let mut out = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        // An all-caps word (`USD`, `VISA`) becomes `Usd`; camel case (`LineItems`) stays.
        let shout = word.chars().all(|c| !c.is_ascii_lowercase());
        for (i, ch) in word.chars().enumerate() {
            if i == 0 {
                out.push(ch.to_ascii_uppercase());
            } else if shout {
                out.push(ch.to_ascii_lowercase());
            } else {
                out.push(ch);
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where",
    "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// A field or argument identifier for a wire name (`type` → `r#type`).
pub fn field_ident(wire: &str) -> String {
    let s = snake(wire);
    let s = if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("n{s}")
    } else {
        s
    };
    if matches!(s.as_str(), "self" | "super" | "crate" | "Self") {
        format!("{s}_")
    } else if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// Doc comment lines for a description, safe for rustdoc: no indented code blocks (which
/// would become doctests), fenced blocks marked as text.
pub fn doc(description: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut in_fence = false;
    for line in description.trim().lines() {
        let mut line = line.trim().to_owned();
        if line.starts_with("```") {
            // Opening fences become `text` so rustdoc never compiles spec prose.
            if !in_fence {
                line = "```text".to_owned();
            }
            in_fence = !in_fence;
        }
        if line.is_empty() {
            out.push_str(&format!("{indent}///\n"));
        } else {
            out.push_str(&format!("{indent}/// {line}\n"));
        }
    }
    if in_fence {
        out.push_str(&format!("{indent}/// ```\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_names() {
        assert_eq!(snake("LocalizedPrices"), "localized_prices");
        assert_eq!(snake("line-items"), "line_items");
        assert_eq!(snake("payment_id"), "payment_id");
        assert_eq!(pascal("one_time_price"), "OneTimePrice");
        assert_eq!(pascal("Feature Flag Config"), "FeatureFlagConfig");
        assert_eq!(pascal("3ds"), "V3ds");
        assert_eq!(pascal("USD"), "Usd");
        assert_eq!(pascal("LineItems"), "LineItems");
        assert_eq!(field_ident("type"), "r#type");
        assert_eq!(field_ident("self"), "self_");
    }

    #[test]
    fn docs_never_hold_indented_code() {
        let d = doc("Text\n    indented\n```\ncode\n```", "");
        assert_eq!(
            d,
            "/// Text\n/// indented\n/// ```text\n/// code\n/// ```\n"
        );
    }
}

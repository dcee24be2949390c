//! Limits checked on a `plugin.yaml` before it is parsed: its size and how deeply it nests.
//!
//! The YAML parser's cost grows with the square of the nesting depth (40 000 levels of `[`
//! took seconds), so depth is measured first by a linear scan: indentation levels, compact
//! sequence dashes (`- - -`) and open flow brackets outside quoted strings. The scan is an
//! upper bound in spirit; real manifests nest a handful of levels.

/// The largest `plugin.yaml` read (256 KiB; Omniview's are a few hundred bytes).
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024;

/// The deepest nesting accepted in a `plugin.yaml`.
pub const MAX_YAML_NESTING: usize = 64;

/// A YAML document nested more deeply than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("it nests more than {max} levels deep (at line {line}); a plugin manifest needs a handful")]
pub struct YamlTooDeep {
    /// The limit.
    pub max: usize,
    /// The 1-based line where the limit was crossed.
    pub line: usize,
}

/// Checks that `text` nests at most `max` levels (block indentation plus flow brackets).
pub fn check_yaml_nesting(text: &str, max: usize) -> Result<(), YamlTooDeep> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let (mut in_single, mut in_double) = (false, false);
    for (n, line) in text.lines().enumerate() {
        let too_deep = |depth: usize| (depth > max).then_some(YamlTooDeep { max, line: n + 1 });
        let bytes = line.as_bytes();
        if flow == 0 && !in_single && !in_double {
            let indent = bytes.iter().take_while(|&&b| b == b' ').count();
            let rest = &bytes[indent..];
            if rest.is_empty() || rest[0] == b'#' {
                continue;
            }
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // Compact nested sequences open a level per dash on one line.
            let mut at = indent;
            while bytes.get(at) == Some(&b'-') && bytes.get(at + 1) == Some(&b' ') {
                at += 2;
                while bytes.get(at) == Some(&b' ') {
                    at += 1;
                }
                indents.push(at);
            }
            if let Some(e) = too_deep(indents.len()) {
                return Err(e);
            }
        }
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate() {
            if in_double {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_double = false,
                    _ => {}
                }
                continue;
            }
            if in_single {
                in_single = b != b'\'';
                continue;
            }
            match b {
                b'"' => in_double = true,
                b'\'' if i == 0 || !bytes[i - 1].is_ascii_alphanumeric() => in_single = true,
                b'#' if i == 0 || bytes[i - 1] == b' ' => break,
                b'[' | b'{' => {
                    flow += 1;
                    if let Some(e) = too_deep(indents.len() + flow) {
                        return Err(e);
                    }
                }
                b']' | b'}' => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_manifests_pass() {
        let text = "id: my-plugin\nversion: 0.1.0\nname: \"My [plugin]\"\ndescription: 'it''s {fine}'\ncapabilities:\n  - resource\n  - ui\nui:\n  routes: [{path: /a}, {path: /b}]\n# [[[[ a comment\nmaintainers:\n  - name: a\n    email: b\n";
        assert_eq!(check_yaml_nesting(text, MAX_YAML_NESTING), Ok(()));
    }

    #[test]
    fn deep_flow_nesting_is_refused_at_its_line() {
        let deep = format!("id: x\nv: {}{}\n", "[".repeat(40_000), "]".repeat(40_000));
        let err = check_yaml_nesting(&deep, MAX_YAML_NESTING).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("more than 64 levels"), "{err}");
    }

    #[test]
    fn deep_block_nesting_is_refused() {
        let dashes = format!("id: x\nv:\n  {}x\n", "- ".repeat(100));
        assert!(check_yaml_nesting(&dashes, MAX_YAML_NESTING).is_err());
        let mut indented = String::from("id: x\n");
        for level in 0..100 {
            indented.push_str(&format!("{}k{level}:\n", " ".repeat(level)));
        }
        assert!(check_yaml_nesting(&indented, MAX_YAML_NESTING).is_err());
        let mut shallow = String::from("id: x\n");
        for level in 0..2000 {
            shallow.push_str(&format!("{}k{level}: 1\n", " ".repeat(level % 4)));
        }
        assert_eq!(check_yaml_nesting(&shallow, MAX_YAML_NESTING), Ok(()));
    }

    #[test]
    fn brackets_in_quotes_do_not_count() {
        let quoted = format!(
            "id: x\nname: \"{}\"\nother: '{}'\n",
            "[".repeat(500),
            "{".repeat(500)
        );
        assert_eq!(check_yaml_nesting(&quoted, MAX_YAML_NESTING), Ok(()));
    }
}

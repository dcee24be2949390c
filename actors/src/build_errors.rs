//! Parses `go build` output into [`BuildError`]s with absolute paths.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::types::BuildError;

fn error_line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // `file.go:12:5: msg` or `file.go:12: msg` (vet and some linker errors have no column).
    RE.get_or_init(|| {
        Regex::new(r"^(?P<file>.+?\.go):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<msg>.+)$")
            .expect("static regex")
    })
}

/// Extracts every `file:line[:col]: message` error from compiler output.
///
/// Relative paths are resolved against `build_dir`, the directory `go build` ran in, so every
/// returned `file` is absolute. A missing column is reported as 0.
pub fn parse_build_errors(output: &str, build_dir: &Path) -> Vec<BuildError> {
    output
        .lines()
        .filter_map(|raw| {
            let line = crate::ansi::strip_ansi(raw);
            let caps = error_line_regex().captures(line.trim())?;
            let line_no = caps["line"].parse().ok()?;
            let column = caps
                .name("col")
                .and_then(|c| c.as_str().parse().ok())
                .unwrap_or(0);
            Some(BuildError {
                file: absolutize(&caps["file"], build_dir),
                line: line_no,
                column,
                message: caps["msg"].trim().to_string(),
            })
        })
        .collect()
}

fn absolutize(file: &str, build_dir: &Path) -> String {
    let p = Path::new(file);
    if p.is_absolute() {
        return file.to_string();
    }
    let mut out = PathBuf::from(build_dir);
    for comp in p.components() {
        match comp {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_line_and_column_with_relative_paths() {
        let out = "# example.com/hello/pkg\n./pkg/main.go:12:5: undefined: foo\npkg/sub/x.go:3:1: syntax error: unexpected }\n";
        let errs = parse_build_errors(out, Path::new("/src/hello"));
        assert_eq!(
            errs,
            vec![
                BuildError {
                    file: "/src/hello/pkg/main.go".into(),
                    line: 12,
                    column: 5,
                    message: "undefined: foo".into()
                },
                BuildError {
                    file: "/src/hello/pkg/sub/x.go".into(),
                    line: 3,
                    column: 1,
                    message: "syntax error: unexpected }".into()
                },
            ]
        );
    }

    #[test]
    fn accepts_a_missing_column_and_absolute_paths() {
        let errs = parse_build_errors("/abs/a.go:7: missing return", Path::new("/x"));
        assert_eq!(errs[0].file, "/abs/a.go");
        assert_eq!((errs[0].line, errs[0].column), (7, 0));
    }

    #[test]
    fn parent_components_are_resolved() {
        let errs = parse_build_errors("../lib/a.go:1:2: bad", Path::new("/src/hello"));
        assert_eq!(errs[0].file, "/src/lib/a.go");
    }

    #[test]
    fn ignores_lines_that_are_not_errors() {
        let out = "# pkg\nnote: module requires Go 1.22\ngo: downloading x v1\n";
        assert!(parse_build_errors(out, Path::new("/x")).is_empty());
    }

    #[test]
    fn strips_colour_codes_before_matching() {
        let errs = parse_build_errors("\u{1b}[1m./a.go:1:2: boom\u{1b}[0m", Path::new("/p"));
        assert_eq!(errs[0].message, "boom");
    }
}

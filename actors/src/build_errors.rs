//! Parses `go build` output into [`BuildError`]s with absolute paths.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use crate::types::{BuildError, Severity};

fn error_line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // `file.go:12:5: msg` or `file.go:12: msg` (vet and some linker errors have no column).
    RE.get_or_init(|| {
        Regex::new(r"^(?P<file>.+?\.go):(?P<line>\d+)(?::(?P<col>\d+))?:\s*(?P<msg>.+)$")
            .expect("static regex")
    })
}

/// Whether one line of compiler output is a `file:line[:col]: message` error (nothing is
/// extracted: the whole output is parsed once, when the build ends).
pub fn is_build_error_line(line: &str) -> bool {
    error_line_regex().is_match(crate::ansi::strip_ansi(line).trim())
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
            let message = caps["msg"].trim().to_string();
            let warning = message
                .get(..8)
                .is_some_and(|head| head.eq_ignore_ascii_case("warning:"));
            Some(BuildError {
                file: absolutize(&caps["file"], build_dir),
                line: line_no,
                column,
                message,
                severity: if warning {
                    Severity::Warning
                } else {
                    Severity::Error
                },
            })
        })
        .collect()
}

/// The one line that says why a build failed: its first compiler error and how many there
/// were (`at_least` when output was cut), or, without any, how `go` ended (`how`) and the last
/// lines it printed (`tail`). It becomes `lastError`.
pub fn failure_summary(errors: &[BuildError], at_least: bool, how: &str, tail: &str) -> String {
    match errors.first() {
        Some(first) => format!(
            "{}: {}:{}:{}: {}",
            failure_count(errors, at_least),
            first.file,
            first.line,
            first.column,
            first.message
        ),
        None => format!("build failed ({how}): {tail}"),
    }
}

/// The build log's closing line: each error is already in the log (the compiler's own lines)
/// and in the error event, so with errors it only counts them; without, it is the `summary`
/// (how `go` ended and why).
pub fn failure_log_line(errors: &[BuildError], at_least: bool, summary: &str) -> String {
    if errors.is_empty() {
        format!("{summary}; keeping the previous binary")
    } else {
        format!(
            "{}; keeping the previous binary",
            failure_count(errors, at_least)
        )
    }
}

/// "build failed with 3 errors", "build failed with at least 5000 errors".
fn failure_count(errors: &[BuildError], at_least: bool) -> String {
    format!(
        "build failed with {}{} error{}",
        if at_least { "at least " } else { "" },
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
    )
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
    fn a_failure_is_summed_up_by_its_first_error_or_by_how_go_ended() {
        let errs = parse_build_errors("a.go:1:2: one\nb.go:3:4: two\n", Path::new("/p"));
        assert_eq!(
            failure_summary(&errs, false, "exit 1", ""),
            "build failed with 2 errors: /p/a.go:1:2: one"
        );
        assert_eq!(
            failure_summary(&errs[..1], true, "exit 1", ""),
            "build failed with at least 1 error: /p/a.go:1:2: one"
        );
        assert_eq!(
            failure_summary(&[], false, "exited with code 2", "go: no go files"),
            "build failed (exited with code 2): go: no go files"
        );
        assert_eq!(
            failure_log_line(&errs, false, "unused"),
            "build failed with 2 errors; keeping the previous binary",
            "the compiler's own lines show the errors: not repeated"
        );
        assert_eq!(
            failure_log_line(&[], false, "build failed (killed): out of memory"),
            "build failed (killed): out of memory; keeping the previous binary"
        );
    }

    #[test]
    fn error_lines_are_told_from_other_output() {
        assert!(is_build_error_line("./pkg/main.go:12:5: undefined: foo"));
        assert!(is_build_error_line(
            "\u{1b}[31mpkg/x.go:3: vet says no\u{1b}[0m"
        ));
        for other in [
            "# example.com/hello/pkg",
            "go: downloading x v1.0.0",
            "main.go is fine",
        ] {
            assert!(!is_build_error_line(other), "{other}");
        }
    }

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
                    message: "undefined: foo".into(),
                    severity: Severity::Error,
                },
                BuildError {
                    file: "/src/hello/pkg/sub/x.go".into(),
                    line: 3,
                    column: 1,
                    message: "syntax error: unexpected }".into(),
                    severity: Severity::Error,
                },
            ]
        );
    }

    #[test]
    fn a_warning_the_tool_reports_is_a_warning() {
        let errs = parse_build_errors(
            "pkg/a.go:3:2: warning: unused variable x\npkg/a.go:4:1: WARNING: odd\npkg/a.go:5:1: warnings are not this\n",
            Path::new("/p"),
        );
        let severities: Vec<Severity> = errs.iter().map(|e| e.severity).collect();
        assert_eq!(
            severities,
            [Severity::Warning, Severity::Warning, Severity::Error]
        );
        assert_eq!(errs[0].message, "warning: unused variable x");
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

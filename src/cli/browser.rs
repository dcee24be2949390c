//! Opening the Dev Tools page in the user's browser: `$BROWSER` when set, else `xdg-open`
//! (`open` on macOS). Never waits for the browser.

use std::process::{Command, Stdio};

/// The page's address with the token, which the page turns into a cookie at once.
pub fn page_url(base: &str, token: &str) -> String {
    format!("{base}/ui/?token={token}")
}

/// Starts the browser on `url`; the error says what could not be run.
pub fn open(url: &str) -> Result<(), String> {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            }
            .to_string()
        });
    let mut child = Command::new(&program)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{program}` to open the page ({e}); open {url} yourself, or set BROWSER"))?;
    // Reaped off this thread: some openers stay until the browser exits.
    std::thread::spawn(move || child.wait());
    Ok(())
}

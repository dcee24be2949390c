//! The single-flight rule of one plugin's builds: at most one build at a time, and any number
//! of requests while one runs make exactly one more build after it.

/// The running build (`B`) and whether another one is due after it.
#[derive(Debug)]
pub struct BuildQueue<B> {
    current: Option<B>,
    again: bool,
}

impl<B> Default for BuildQueue<B> {
    fn default() -> Self {
        Self {
            current: None,
            again: false,
        }
    }
}

impl<B> BuildQueue<B> {
    /// A build is asked for. True when one runs: it is noted for after that one, and the
    /// caller must not start another now.
    pub fn busy(&mut self) -> bool {
        if self.current.is_some() {
            self.again = true;
        }
        self.current.is_some()
    }

    /// One more build after the running one (its sources changed under it).
    pub fn again(&mut self) {
        self.again = true;
    }

    /// A build started.
    pub fn start(&mut self, build: B) {
        self.current = Some(build);
    }

    /// The running build, if any.
    pub fn current(&self) -> Option<&B> {
        self.current.as_ref()
    }

    /// The running build, to update.
    pub fn current_mut(&mut self) -> Option<&mut B> {
        self.current.as_mut()
    }

    /// The running build ended (done, failed or cancelled): true when another is due now.
    pub fn end(&mut self) -> bool {
        self.current = None;
        std::mem::take(&mut self.again)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_during_a_build_make_one_more_build() {
        let mut q = BuildQueue::default();
        assert!(!q.busy(), "nothing runs: start now");
        q.start(1);
        assert!(q.busy());
        assert!(q.busy());
        assert!(q.busy());
        assert_eq!(q.current(), Some(&1));
        assert!(q.end(), "three requests: one more build");
        assert!(!q.busy());
        q.start(2);
        assert!(!q.end(), "nobody asked: nothing more");
        assert!(q.current().is_none());
    }

    #[test]
    fn a_cancelled_build_is_followed_by_the_one_that_replaced_it() {
        let mut q = BuildQueue::default();
        q.start("stale");
        q.again();
        if let Some(b) = q.current_mut() {
            *b = "cancelling";
        }
        assert_eq!(q.current(), Some(&"cancelling"));
        assert!(q.end());
        assert!(!q.end(), "the request was used up");
    }
}

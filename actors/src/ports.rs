//! Port bookkeeping for Vite dev servers: which ports of the range are handed out, to whom.

use std::collections::BTreeMap;

/// First port of the default range.
pub const PORT_RANGE_START: u16 = 15173;
/// Last port of the default range (inclusive: 100 ports).
pub const PORT_RANGE_END: u16 = 15272;

/// Returned when every port of the range is assigned or busy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no free port available in range {start}-{end}")]
pub struct NoFreePort {
    pub start: u16,
    pub end: u16,
}

/// Which ports of an inclusive range are assigned to which plugin.
#[derive(Debug, Clone)]
pub struct PortBook {
    start: u16,
    end: u16,
    assigned: BTreeMap<u16, String>,
}

impl PortBook {
    /// Bookkeeping for the inclusive range `start..=end`.
    pub fn new(start: u16, end: u16) -> Self {
        Self {
            start,
            end: end.max(start),
            assigned: BTreeMap::new(),
        }
    }

    /// Assigns the lowest port that is neither assigned nor reported busy by `is_free`, skipping
    /// `avoid` (ports that just failed for this plugin).
    pub fn allocate(
        &mut self,
        plugin_id: &str,
        avoid: &[u16],
        mut is_free: impl FnMut(u16) -> bool,
    ) -> Result<u16, NoFreePort> {
        for port in self.start..=self.end {
            if self.assigned.contains_key(&port) || avoid.contains(&port) || !is_free(port) {
                continue;
            }
            self.assigned.insert(port, plugin_id.to_string());
            return Ok(port);
        }
        Err(NoFreePort {
            start: self.start,
            end: self.end,
        })
    }

    /// Assigns `prefer` when it is neither assigned, nor in `avoid`, nor busy (it may lie
    /// outside the range); else what [`PortBook::allocate`] assigns.
    pub fn allocate_preferring(
        &mut self,
        plugin_id: &str,
        prefer: Option<u16>,
        avoid: &[u16],
        mut is_free: impl FnMut(u16) -> bool,
    ) -> Result<u16, NoFreePort> {
        if let Some(port) = prefer.filter(|p| *p != 0) {
            if !self.assigned.contains_key(&port) && !avoid.contains(&port) && is_free(port) {
                self.assigned.insert(port, plugin_id.to_string());
                return Ok(port);
            }
        }
        self.allocate(plugin_id, avoid, is_free)
    }

    /// Frees `port`; freeing a port that is not assigned does nothing.
    pub fn release(&mut self, port: u16) {
        self.assigned.remove(&port);
    }

    /// Frees every port of `plugin_id` and returns them.
    pub fn release_plugin(&mut self, plugin_id: &str) -> Vec<u16> {
        let ports: Vec<u16> = self
            .assigned
            .iter()
            .filter(|(_, id)| id.as_str() == plugin_id)
            .map(|(p, _)| *p)
            .collect();
        for p in &ports {
            self.assigned.remove(p);
        }
        ports
    }

    /// The plugin `port` is assigned to.
    pub fn owner(&self, port: u16) -> Option<&str> {
        self.assigned.get(&port).map(String::as_str)
    }
}

/// True when nothing listens on `127.0.0.1:port` right now (bind, then close).
///
/// This is a check-then-use race by nature; the Vite actor handles the loser's side.
pub fn probe_port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preferred_port_is_given_when_free_and_the_range_otherwise() {
        let mut book = PortBook::new(15173, 15175);
        assert_eq!(
            book.allocate_preferring("a", Some(3000), &[], |_| true),
            Ok(3000)
        );
        assert_eq!(book.owner(3000), Some("a"));
        // Taken by another plugin, busy, or to be avoided: the range instead.
        assert_eq!(
            book.allocate_preferring("b", Some(3000), &[], |_| true),
            Ok(15173)
        );
        assert_eq!(
            book.allocate_preferring("c", Some(4000), &[], |p| p != 4000),
            Ok(15174)
        );
        assert_eq!(
            book.allocate_preferring("d", Some(5000), &[5000], |_| true),
            Ok(15175)
        );
        book.release_plugin("a");
        assert_eq!(book.owner(3000), None, "released like any other port");
    }

    #[test]
    fn allocates_lowest_free_and_reuses_after_release() {
        let mut book = PortBook::new(100, 102);
        assert_eq!(book.allocate("a", &[], |_| true), Ok(100));
        assert_eq!(book.allocate("b", &[], |_| true), Ok(101));
        book.release(100);
        assert_eq!(book.allocate("c", &[], |_| true), Ok(100));
        assert_eq!(book.owner(101), Some("b"));
    }

    #[test]
    fn skips_busy_and_avoided_ports() {
        let mut book = PortBook::new(100, 103);
        assert_eq!(book.allocate("a", &[101], |p| p != 100), Ok(102));
    }

    #[test]
    fn exhaustion_names_the_range() {
        let mut book = PortBook::new(15173, 15272);
        for i in 0..100 {
            book.allocate(&format!("p{i}"), &[], |_| true).unwrap();
        }
        let err = book.allocate("late", &[], |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no free port available in range 15173-15272"
        );
    }

    #[test]
    fn release_plugin_frees_all_its_ports() {
        let mut book = PortBook::new(1, 5);
        book.allocate("a", &[], |_| true).unwrap();
        book.allocate("b", &[], |_| true).unwrap();
        book.allocate("a", &[], |_| true).unwrap();
        assert_eq!(book.release_plugin("a"), vec![1, 3]);
        assert_eq!(book.owner(1), None);
        assert_eq!(book.owner(2), Some("b"));
    }
}

/// The inodes of sockets listening on `port` in a `/proc/net/tcp` or `tcp6` table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = f.get(1)?.rsplit_once(':')?.1;
            let listening = *f.get(3)? == "0A";
            let matches = u16::from_str_radix(local_port, 16).ok()? == port;
            (listening && matches).then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// Who listens on `port`, as "pid 123 (python3 -m http.server)", where the platform can
/// tell (Linux, and only for processes whose `/proc/<pid>/fd` we may read).
pub fn port_holder(port: u16) -> Option<String> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| listening_inodes(&t, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|l| wanted.iter().any(|w| l.as_os_str() == w.as_str()))
                .unwrap_or(false)
        });
        if holds {
            let cmd = std::fs::read_to_string(entry.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            return Some(format!("pid {pid} ({})", cmd.trim()));
        }
    }
    None
}

#[cfg(test)]
mod holder_tests {
    use super::*;

    #[test]
    fn finds_listening_sockets_in_the_proc_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:3B45 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:3B45 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0
   2: 0100007F:3B46 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7777 1 0000000000000000 100 0 0 10 0";
        assert_eq!(listening_inodes(table, 0x3B45), vec![4242]);
        assert!(listening_inodes(table, 1).is_empty());
    }

    #[test]
    fn names_this_process_as_the_holder_of_its_listener() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let holder = port_holder(port).expect("the holder is found on Linux");
        assert!(
            holder.starts_with(&format!("pid {} (", std::process::id())),
            "{holder}"
        );
    }
}

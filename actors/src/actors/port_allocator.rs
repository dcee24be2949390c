//! `PortAllocatorActor`: the one owner of Vite port assignments across all plugins.

use actix::prelude::*;

use crate::config::PortProbe;
use crate::ports::{NoFreePort, PortBook};

/// Hands out ports of the configured range, skipping ports something else listens on.
pub struct PortAllocatorActor {
    book: PortBook,
    probe: PortProbe,
}

impl PortAllocatorActor {
    /// An allocator for the inclusive `range`, checking ports with `probe`.
    pub fn new(range: (u16, u16), probe: PortProbe) -> Self {
        Self {
            book: PortBook::new(range.0, range.1),
            probe,
        }
    }
}

impl Actor for PortAllocatorActor {
    type Context = Context<Self>;
}

/// Assigns a free port to `plugin_id`: `prefer` when it is free, else one of the range;
/// never one of `avoid`.
#[derive(Message, Debug)]
#[rtype(result = "Result<u16, NoFreePort>")]
pub struct AllocatePort {
    pub plugin_id: String,
    pub prefer: Option<u16>,
    pub avoid: Vec<u16>,
}

impl Handler<AllocatePort> for PortAllocatorActor {
    type Result = Result<u16, NoFreePort>;

    fn handle(&mut self, msg: AllocatePort, _: &mut Self::Context) -> Self::Result {
        let probe = self.probe.clone();
        self.book
            .allocate_preferring(&msg.plugin_id, msg.prefer, &msg.avoid, |p| probe(p))
    }
}

/// Frees one port.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ReleasePort(pub u16);

impl Handler<ReleasePort> for PortAllocatorActor {
    type Result = ();

    fn handle(&mut self, msg: ReleasePort, _: &mut Self::Context) {
        self.book.release(msg.0);
    }
}

/// Frees every port of a plugin.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ReleasePluginPorts(pub String);

impl Handler<ReleasePluginPorts> for PortAllocatorActor {
    type Result = ();

    fn handle(&mut self, msg: ReleasePluginPorts, _: &mut Self::Context) {
        self.book.release_plugin(&msg.0);
    }
}

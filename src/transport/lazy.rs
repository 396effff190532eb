//! A transport that connects only once a round names its roster.

use std::time::Duration;

use nostr::{Event, Keys};

use super::{Bounds, Endpoint, Error, Exchange, Input, Result, Via, Waits};
use crate::ceremony::Roster;

/// A transport that connects when a round names its roster (refresh and repair bind
/// their packages to rosters derived inside the round).
pub struct Lazy {
    endpoint: Endpoint,
    keys: Keys,
    bounds: Bounds,
    via: Option<Via>,
    on_connect: Option<OnConnect>,
}

/// What a [`Lazy`] transport does once it has connected.
type OnConnect = Box<dyn Fn(&Via)>;

impl Lazy {
    pub fn new(endpoint: Endpoint, keys: Keys, bounds: Bounds) -> Self {
        Lazy {
            endpoint,
            keys,
            bounds,
            via: None,
            on_connect: None,
        }
    }

    /// Called once the transport has connected (the caller warns about dead relays).
    pub fn on_connect(mut self, f: impl Fn(&Via) + 'static) -> Self {
        self.on_connect = Some(Box::new(f));
        self
    }

    fn get(&mut self) -> Result<&mut Via> {
        self.via.as_mut().ok_or(Error::Unbound)
    }

    pub fn close(self) {
        if let Some(v) = self.via {
            v.close();
        }
    }
}

impl Exchange for Lazy {
    fn bind(&mut self, roster: &Roster) -> Result<()> {
        match &mut self.via {
            Some(v) => v.bind(roster),
            None => {
                let via = Via::connect_bounded(&self.endpoint, &self.keys, roster, self.bounds)?;
                if let Some(f) = &self.on_connect {
                    f(&via);
                }
                self.via = Some(via);
                Ok(())
            }
        }
    }

    fn inputs(&mut self, roster: &Roster) -> Result<Vec<Input>> {
        self.bind(roster)?;
        Exchange::inputs(self.get()?, roster)
    }

    fn deliver(&mut self, name: &str, event: &Event) -> Result<String> {
        self.get()?.deliver(name, event)
    }

    fn sent(&self) -> bool {
        true
    }
}

impl Waits for Lazy {
    fn wait_news(&mut self, max: Duration) -> Result<usize> {
        self.get()?.wait(max)
    }
}

impl Lazy {
    /// Where the packages go, for reports.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

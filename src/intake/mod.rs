//! Intake fills the queue: pollers for providers with a list endpoint (and, later, the
//! webhook inbox for those without one).

pub mod inbox;
pub mod poller;

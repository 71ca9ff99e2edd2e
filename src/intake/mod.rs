//! Intake fills the queue: the poller for providers with a list endpoint, the webhook
//! inbox for those without one, and the identity reader that records who each new case
//! is about, for related cases.

pub mod identities;
pub mod inbox;
pub mod poller;

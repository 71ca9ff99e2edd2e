//! kycdesk: a terminal console for analysts who review referred identity-verification
//! cases. See `README.md` and `DESIGN.md` (in the shared folder) for the architecture.

pub mod domain;
pub mod providers;
pub mod sender;
pub mod store;
pub mod emulator;
pub mod config;
pub mod intake;
pub mod app;
pub mod ui;
pub mod media;
pub mod tui;
pub mod commands;

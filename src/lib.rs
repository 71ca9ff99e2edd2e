//! kycdesk: a terminal console for analysts who review referred identity-verification
//! cases. See `README.md` and `DESIGN.md` (in the shared folder) for the architecture.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod emulator;
pub mod intake;
pub mod media;
pub mod private_fs;
pub mod providers;
pub mod sender;
pub mod store;
pub mod tui;
pub mod ui;

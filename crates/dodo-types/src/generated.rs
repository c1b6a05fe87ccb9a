//! The code `cargo xtask codegen` writes: [`models`] (every model of the API) and, with the
//! `operations` feature, [`operations`] (the endpoint table the emulator routes with).
//! Nothing under `generated/` is edited by hand; this file only declares the modules.

pub mod models;
#[cfg(feature = "operations")]
pub mod operations;

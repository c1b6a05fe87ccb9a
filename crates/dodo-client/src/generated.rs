//! The code `cargo xtask codegen` writes: [`resources`], one typed method per endpoint.
//! Each method only builds a request value; the hand-written runtime does the rest. Nothing
//! under `generated/` is edited by hand; this file only declares the module.

pub mod resources;

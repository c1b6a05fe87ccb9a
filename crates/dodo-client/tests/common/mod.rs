//! Helpers shared by the generated request-shape tests.

pub mod recorder;

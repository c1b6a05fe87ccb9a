//! Generated resource groups (placeholder until codegen runs).

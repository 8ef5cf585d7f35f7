//! The tokio shell around the sans-IO switch: shards (one thread and runtime per
//! core, `SO_REUSEPORT` listeners), connection drivers, and the [`Engine`] handle
//! through which the control plane reaches the shards.

mod driver;
mod engine;
mod shard;

pub use engine::{Engine, EngineConfig, EngineError, EngineStats};

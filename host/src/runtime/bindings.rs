//! The only `bindgen!` of the host: Rust types and traits generated from
//! `wit/consumer.wit`.
//!
//! Exports are called asynchronously (the guest runs on a tokio task and
//! yields at epoch ticks); imports are plain synchronous functions that never
//! trap: every refusal is a WIT error value.

#![allow(missing_docs)] // generated code; the WIT file documents it

wasmtime::component::bindgen!({
    path: "../wit",
    world: "consumer",
    exports: { default: async },
});

pub use self::wasmsock::plugin::types::{
    Accept, CloseInfo, Error as ImportError, Level, Message, Reject, Scope,
};

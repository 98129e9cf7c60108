//! The integration tests, one binary: a real `wasmsock serve` on 127.0.0.1
//! port 0 (or the `wasmsock` CLI, or the `wasmsock::testing` harness) with
//! real plugins and real WebSocket clients. Each module covers one area and
//! says what in its own doc; `support` starts servers and builds the test
//! plugins.
//!
//! Run everything with `cargo test -p wasmsock --test integration`, one
//! module by naming it as a filter, e.g.
//! `cargo test -p wasmsock --test integration hot_reload::`, one test by its
//! full path, e.g. `echo::pipelined_messages_keep_their_order`.

mod support;

mod access;
mod auth;
mod burst;
mod channels;
mod check;
mod config_errors;
mod connections;
mod console;
mod echo;
mod events;
mod group_stress;
mod groups;
mod harness;
mod hostile;
mod hot_reload;
mod js_sdk;
mod languages;
mod layer;
mod leaks;
mod limits;
mod live_upgrade;
mod metrics;
mod middleware;
mod pool;
mod properties;
mod rust_sdk;
mod scaffold;
mod shutdown;
mod tls;

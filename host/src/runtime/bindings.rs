//! The only `bindgen!` of the host: Rust types and traits generated from
//! `wit/consumer.wit`, and [`PluginPre`], which binds a component's required
//! and optional exports once so that each instantiation only loads them.
//!
//! Shared shards call exports asynchronously (the guest runs on a fiber and
//! yields to tokio at epoch ticks); per-connection instances call the same
//! exports synchronously through [`blocking`] (no fiber, so the pool keeps
//! no stack per instance). Imports are plain synchronous functions that
//! never trap: every refusal is a WIT error value.

#![allow(missing_docs)] // generated code; the WIT file documents it

use wasmtime::component::{Instance, InstancePre};
use wasmtime::AsContextMut;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "consumer",
    exports: { default: async },
});

/// The exports a consumer may have beyond `handler`, bound apart so that a
/// consumer without them still loads.
pub mod optional {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "optional-exports",
        exports: { default: async },
        with: { "wasmsock:plugin/types": super::wasmsock::plugin::types },
    });
}

/// `adopt-handler`, bound apart from `event-handler`: a consumer may export
/// either one without the other.
pub mod optional_adopt {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "optional-adopt",
        exports: { default: async },
        with: { "wasmsock:plugin/types": super::wasmsock::plugin::types },
    });
}

/// `timer-handler`, bound apart from the others.
pub mod optional_timers {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "optional-timers",
        exports: { default: async },
        with: { "wasmsock:plugin/types": super::wasmsock::plugin::types },
    });
}

/// The `middleware` world: a component that exports `middleware-handler`
/// is a middleware, not a consumer. Its imports (`log`, `config`, the
/// `identity` record) are the consumer world's, which the linker provides.
pub mod middleware {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "middleware",
        exports: { default: async },
        with: {
            "wasmsock:plugin/types": super::wasmsock::plugin::types,
            "wasmsock:plugin/log": super::wasmsock::plugin::log,
            "wasmsock:plugin/config": super::wasmsock::plugin::config,
            "wasmsock:plugin/identity": super::wasmsock::plugin::identity,
        },
    });
}

/// The consumer's exports again, called synchronously: the bindings of
/// per-connection instances, whose stores never run on a fiber. Every type
/// is the one above.
pub mod blocking {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "consumer",
        with: {
            "wasmsock:plugin/types": super::wasmsock::plugin::types,
            "wasmsock:plugin/connection": super::wasmsock::plugin::connection,
            "wasmsock:plugin/log": super::wasmsock::plugin::log,
            "wasmsock:plugin/config": super::wasmsock::plugin::config,
            "wasmsock:plugin/groups": super::wasmsock::plugin::groups,
            "wasmsock:plugin/channel": super::wasmsock::plugin::channel,
            "wasmsock:plugin/attachment": super::wasmsock::plugin::attachment,
            "wasmsock:plugin/timers": super::wasmsock::plugin::timers,
            "wasmsock:plugin/identity": super::wasmsock::plugin::identity,
        },
    });

    /// See [`super::optional`].
    pub mod optional {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "optional-exports",
            with: { "wasmsock:plugin/types": crate::runtime::bindings::wasmsock::plugin::types },
        });
    }

    /// See [`super::optional_adopt`].
    pub mod optional_adopt {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "optional-adopt",
            with: { "wasmsock:plugin/types": crate::runtime::bindings::wasmsock::plugin::types },
        });
    }

    /// See [`super::optional_timers`].
    pub mod optional_timers {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "optional-timers",
            with: { "wasmsock:plugin/types": crate::runtime::bindings::wasmsock::plugin::types },
        });
    }
}

pub use self::wasmsock::plugin::identity::Identity as IdentityRecord;
pub use self::wasmsock::plugin::types::{
    Accept, CloseInfo, Error as ImportError, Level, Message, Reject, Scope,
};

/// The name under which a component exports `event-handler`.
const EVENT_HANDLER: &str = "wasmsock:plugin/event-handler@0.1.0";

/// The name under which a component exports `adopt-handler`.
const ADOPT_HANDLER: &str = "wasmsock:plugin/adopt-handler@0.1.0";

/// The name under which a component exports `timer-handler`.
const TIMER_HANDLER: &str = "wasmsock:plugin/timer-handler@0.1.0";

/// The name under which a middleware exports `middleware-handler`.
pub const MIDDLEWARE_HANDLER: &str = "wasmsock:plugin/middleware-handler@0.1.0";

/// True when `component` exports `middleware-handler`: it is a middleware.
pub fn is_middleware(component: &wasmtime::component::Component) -> bool {
    component
        .get_export_index(None, MIDDLEWARE_HANDLER)
        .is_some()
}

/// A linked middleware with its export looked up.
pub struct MiddlewarePre<T: 'static> {
    /// The linked component.
    instance_pre: InstancePre<T>,
    /// Where `middleware-handler` is.
    indices: middleware::MiddlewareIndices,
}

impl<T: 'static> Clone for MiddlewarePre<T> {
    fn clone(&self) -> Self {
        MiddlewarePre {
            instance_pre: self.instance_pre.clone(),
            indices: self.indices.clone(),
        }
    }
}

impl<T: Send + 'static> MiddlewarePre<T> {
    /// Look up `middleware-handler` in a linked component.
    pub fn new(instance_pre: InstancePre<T>) -> wasmtime::Result<Self> {
        let indices = middleware::MiddlewareIndices::new(&instance_pre)?;
        Ok(MiddlewarePre {
            instance_pre,
            indices,
        })
    }

    /// The linked component.
    pub fn instance_pre(&self) -> &InstancePre<T> {
        &self.instance_pre
    }

    /// A new instance in `store`, with its export.
    pub async fn instantiate_async(
        &self,
        mut store: impl AsContextMut<Data = T>,
    ) -> wasmtime::Result<middleware::Middleware> {
        let mut store = store.as_context_mut();
        let instance: Instance = self.instance_pre.instantiate_async(&mut store).await?;
        self.indices.load(&mut store, &instance)
    }
}

/// The indices of a consumer's exports and the exports of one instance, for
/// one set of bindings (`$m`: this module's async ones or [`blocking`]).
macro_rules! export_set {
    ($indices:ident, $exports:ident, $m:ident) => {
        /// Where a component's exports are (required and optional).
        #[derive(Clone)]
        pub struct $indices {
            /// Where `handler` is.
            consumer: $m::ConsumerIndices,
            /// Where `event-handler` is, if the component exports it.
            events: Option<$m::optional::OptionalExportsIndices>,
            /// Where `adopt-handler` is, if the component exports it.
            adopt: Option<$m::optional_adopt::OptionalAdoptIndices>,
            /// Where `timer-handler` is, if the component exports it.
            timers: Option<$m::optional_timers::OptionalTimersIndices>,
        }

        /// One instance's exports.
        pub struct $exports {
            /// `handler`, which every consumer has.
            consumer: $m::Consumer,
            /// `event-handler`, if the plugin takes events.
            events: Option<$m::optional::OptionalExports>,
            /// `adopt-handler`, if the plugin takes over connections.
            adopt: Option<$m::optional_adopt::OptionalAdopt>,
            /// `timer-handler`, if the plugin takes timers.
            timers: Option<$m::optional_timers::OptionalTimers>,
        }

        impl $indices {
            /// Look up the exports of a linked component. Fails if
            /// `handler` is missing or if an optional interface is
            /// exported with the wrong shape; a missing optional interface
            /// is fine.
            fn new<T: Send + 'static>(pre: &InstancePre<T>) -> wasmtime::Result<Self> {
                // Each optional interface is bound only when the component
                // exports it by that name.
                let exported = |name| pre.component().get_export_index(None, name).is_some();
                Ok($indices {
                    consumer: $m::ConsumerIndices::new(pre)?,
                    events: exported(EVENT_HANDLER)
                        .then(|| $m::optional::OptionalExportsIndices::new(pre))
                        .transpose()?,
                    adopt: exported(ADOPT_HANDLER)
                        .then(|| $m::optional_adopt::OptionalAdoptIndices::new(pre))
                        .transpose()?,
                    timers: exported(TIMER_HANDLER)
                        .then(|| $m::optional_timers::OptionalTimersIndices::new(pre))
                        .transpose()?,
                })
            }

            /// The exports of `instance`.
            fn load(
                &self,
                mut store: impl AsContextMut,
                instance: &Instance,
            ) -> wasmtime::Result<$exports> {
                let mut store = store.as_context_mut();
                Ok($exports {
                    consumer: self.consumer.load(&mut store, instance)?,
                    events: self
                        .events
                        .as_ref()
                        .map(|i| i.load(&mut store, instance))
                        .transpose()?,
                    adopt: self
                        .adopt
                        .as_ref()
                        .map(|i| i.load(&mut store, instance))
                        .transpose()?,
                    timers: self
                        .timers
                        .as_ref()
                        .map(|i| i.load(&mut store, instance))
                        .transpose()?,
                })
            }
        }

        impl $exports {
            /// `handler` (every consumer has it; an `Option` so that every
            /// interface is reached the same way by [`call!`]).
            pub fn handler(&self) -> Option<&$m::exports::wasmsock::plugin::handler::Guest> {
                Some(self.consumer.wasmsock_plugin_handler())
            }

            /// The plugin's `event-handler`, if it has one.
            pub fn event_handler(
                &self,
            ) -> Option<&$m::optional::exports::wasmsock::plugin::event_handler::Guest> {
                self.events
                    .as_ref()
                    .map(|e| e.wasmsock_plugin_event_handler())
            }

            /// The plugin's `timer-handler`, if it has one.
            pub fn timer_handler(
                &self,
            ) -> Option<&$m::optional_timers::exports::wasmsock::plugin::timer_handler::Guest> {
                self.timers
                    .as_ref()
                    .map(|t| t.wasmsock_plugin_timer_handler())
            }

            /// The plugin's `adopt-handler`, if it has one.
            pub fn adopt_handler(
                &self,
            ) -> Option<&$m::optional_adopt::exports::wasmsock::plugin::adopt_handler::Guest> {
                self.adopt
                    .as_ref()
                    .map(|a| a.wasmsock_plugin_adopt_handler())
            }
        }
    };
}

export_set!(AsyncIndices, AsyncExports, self);
export_set!(SyncIndices, SyncExports, blocking);

/// A linked component with its exports looked up: what every instance of a
/// plugin version is made from.
pub struct PluginPre<T: 'static> {
    /// The linked component.
    instance_pre: InstancePre<T>,
    /// Where its exports are, in the bindings its engine calls with.
    indices: Indices,
}

/// Export indices for async (shared shards) or sync (per-connection)
/// calls.
#[derive(Clone)]
enum Indices {
    /// Called with `call_async`, on a fiber.
    Async(AsyncIndices),
    /// Called with `call`, on the caller's stack.
    Sync(SyncIndices),
}

impl<T: 'static> Clone for PluginPre<T> {
    fn clone(&self) -> Self {
        PluginPre {
            instance_pre: self.instance_pre.clone(),
            indices: self.indices.clone(),
        }
    }
}

/// One instance's exports, called the way its store runs (see [`call!`]).
pub enum PluginExports {
    /// A shared shard's: awaited on a fiber.
    Async(AsyncExports),
    /// A per-connection instance's: called directly.
    Sync(SyncExports),
}

impl<T: Send + 'static> PluginPre<T> {
    /// Look up the exports of a linked component, for calls with `sync`
    /// (no fiber: the per-connection engine) or async ones.
    pub fn new(instance_pre: InstancePre<T>, sync: bool) -> wasmtime::Result<Self> {
        let indices = if sync {
            Indices::Sync(SyncIndices::new(&instance_pre)?)
        } else {
            Indices::Async(AsyncIndices::new(&instance_pre)?)
        };
        Ok(PluginPre {
            instance_pre,
            indices,
        })
    }

    /// The linked component.
    pub fn instance_pre(&self) -> &InstancePre<T> {
        &self.instance_pre
    }

    /// True when instances are called synchronously.
    pub fn sync(&self) -> bool {
        matches!(self.indices, Indices::Sync(_))
    }

    /// True if the plugin exports `event-handler`.
    pub fn takes_events(&self) -> bool {
        match &self.indices {
            Indices::Async(i) => i.events.is_some(),
            Indices::Sync(i) => i.events.is_some(),
        }
    }

    /// True if the plugin exports `adopt-handler`.
    pub fn adopts(&self) -> bool {
        match &self.indices {
            Indices::Async(i) => i.adopt.is_some(),
            Indices::Sync(i) => i.adopt.is_some(),
        }
    }

    /// A new instance in `store`, with its exports: instantiated on a fiber
    /// for async calls, on this thread for sync ones.
    pub async fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = T>,
    ) -> wasmtime::Result<PluginExports> {
        let mut store = store.as_context_mut();
        match &self.indices {
            Indices::Async(i) => {
                let instance = self.instance_pre.instantiate_async(&mut store).await?;
                Ok(PluginExports::Async(i.load(&mut store, &instance)?))
            }
            Indices::Sync(i) => {
                let instance = self.instance_pre.instantiate(&mut store)?;
                Ok(PluginExports::Sync(i.load(&mut store, &instance)?))
            }
        }
    }
}

impl PluginExports {
    /// True if the plugin exports `timer-handler`.
    pub fn takes_timers(&self) -> bool {
        match self {
            PluginExports::Async(e) => e.timers.is_some(),
            PluginExports::Sync(e) => e.timers.is_some(),
        }
    }

    /// True if the plugin exports `adopt-handler`.
    pub fn adopts(&self) -> bool {
        match self {
            PluginExports::Async(e) => e.adopt.is_some(),
            PluginExports::Sync(e) => e.adopt.is_some(),
        }
    }

    /// True if the plugin exports `event-handler`.
    pub fn takes_events(&self) -> bool {
        match self {
            PluginExports::Async(e) => e.events.is_some(),
            PluginExports::Sync(e) => e.events.is_some(),
        }
    }
}

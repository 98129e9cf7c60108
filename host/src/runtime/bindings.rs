//! The only `bindgen!` of the host: Rust types and traits generated from
//! `wit/consumer.wit`, and [`PluginPre`], which binds a component's required
//! and optional exports once so that each instantiation only loads them.
//!
//! Exports are called asynchronously (the guest runs on a tokio task and
//! yields at epoch ticks); imports are plain synchronous functions that never
//! trap: every refusal is a WIT error value.

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

pub use self::optional::exports::wasmsock::plugin::event_handler::Guest as EventHandler;
pub use self::optional_adopt::exports::wasmsock::plugin::adopt_handler::Guest as AdoptHandler;
pub use self::optional_timers::exports::wasmsock::plugin::timer_handler::Guest as TimerHandler;
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

/// A linked component with its exports looked up: what every instance of a
/// plugin version is made from.
pub struct PluginPre<T: 'static> {
    /// The linked component.
    instance_pre: InstancePre<T>,
    /// Where `handler` is.
    consumer: ConsumerIndices,
    /// Where `event-handler` is, if the component exports it.
    events: Option<optional::OptionalExportsIndices>,
    /// Where `adopt-handler` is, if the component exports it.
    adopt: Option<optional_adopt::OptionalAdoptIndices>,
    /// Where `timer-handler` is, if the component exports it.
    timers: Option<optional_timers::OptionalTimersIndices>,
}

impl<T: 'static> Clone for PluginPre<T> {
    fn clone(&self) -> Self {
        PluginPre {
            instance_pre: self.instance_pre.clone(),
            consumer: self.consumer.clone(),
            events: self.events.clone(),
            adopt: self.adopt.clone(),
            timers: self.timers.clone(),
        }
    }
}

/// One instance's exports.
pub struct PluginExports {
    /// `handler`, which every consumer has.
    pub consumer: Consumer,
    /// `event-handler`, if the plugin takes events.
    pub events: Option<optional::OptionalExports>,
    /// `adopt-handler`, if the plugin takes over connections.
    pub adopt: Option<optional_adopt::OptionalAdopt>,
    /// `timer-handler`, if the plugin takes timers.
    pub timers: Option<optional_timers::OptionalTimers>,
}

impl PluginExports {
    /// The plugin's `event-handler`, if it has one.
    pub fn event_handler(&self) -> Option<&EventHandler> {
        self.events
            .as_ref()
            .map(|e| e.wasmsock_plugin_event_handler())
    }

    /// The plugin's `timer-handler`, if it has one.
    pub fn timer_handler(&self) -> Option<&TimerHandler> {
        self.timers
            .as_ref()
            .map(|t| t.wasmsock_plugin_timer_handler())
    }

    /// The plugin's `adopt-handler`, if it has one.
    pub fn adopt_handler(&self) -> Option<&AdoptHandler> {
        self.adopt
            .as_ref()
            .map(|a| a.wasmsock_plugin_adopt_handler())
    }
}

impl<T: Send + 'static> PluginPre<T> {
    /// Look up the exports of a linked component. Fails if `handler` is
    /// missing or if an optional interface is exported with the wrong
    /// shape; a missing optional interface is fine.
    pub fn new(instance_pre: InstancePre<T>) -> wasmtime::Result<Self> {
        let consumer = ConsumerIndices::new(&instance_pre)?;
        // Each optional interface is bound only when the component exports
        // it by that name.
        let exported = |name| {
            instance_pre
                .component()
                .get_export_index(None, name)
                .is_some()
        };
        let events = exported(EVENT_HANDLER)
            .then(|| optional::OptionalExportsIndices::new(&instance_pre))
            .transpose()?;
        let adopt = exported(ADOPT_HANDLER)
            .then(|| optional_adopt::OptionalAdoptIndices::new(&instance_pre))
            .transpose()?;
        let timers = exported(TIMER_HANDLER)
            .then(|| optional_timers::OptionalTimersIndices::new(&instance_pre))
            .transpose()?;
        Ok(PluginPre {
            instance_pre,
            consumer,
            events,
            adopt,
            timers,
        })
    }

    /// The linked component.
    pub fn instance_pre(&self) -> &InstancePre<T> {
        &self.instance_pre
    }

    /// True if the plugin exports `event-handler`.
    pub fn takes_events(&self) -> bool {
        self.events.is_some()
    }

    /// True if the plugin exports `adopt-handler`.
    pub fn adopts(&self) -> bool {
        self.adopt.is_some()
    }

    /// A new instance in `store`, with its exports.
    pub async fn instantiate_async(
        &self,
        mut store: impl AsContextMut<Data = T>,
    ) -> wasmtime::Result<PluginExports> {
        let mut store = store.as_context_mut();
        let instance: Instance = self.instance_pre.instantiate_async(&mut store).await?;
        let consumer = self.consumer.load(&mut store, &instance)?;
        let events = self
            .events
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()?;
        let adopt = self
            .adopt
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()?;
        let timers = self
            .timers
            .as_ref()
            .map(|i| i.load(&mut store, &instance))
            .transpose()?;
        Ok(PluginExports {
            consumer,
            events,
            adopt,
            timers,
        })
    }
}
